"""Checks rendered Kubernetes manifests (scripts/check-deploy renders the overlays).

    deploy_checks.py --k8s 1.30.0 --base deploy/kubernetes/base --config config \
        dev=/tmp/dev.yaml prod=/tmp/prod.yaml

For every document: the Kubernetes JSON schema of that version, strict (an unknown field
fails), via kubernetes-validate; one line per document. Then the invariants that a schema
cannot see (each failure names the overlay and the object):
  - the StatefulSet's serviceName is a headless Service in the render that publishes
    not-ready addresses and selects the pods; podManagementPolicy is Parallel;
  - SLUICE_HOSTS lists exactly `replicas` hosts, `<sts>-<i>.<service>:<timely port>` in
    ordinal order, and SLUICE_PROCESS is the pod name;
  - the probes (liveness /healthz, readiness /readyz) and SLUICE_METRICS_LISTEN use the
    container's metrics port;
  - terminationGracePeriodSeconds exceeds the job's --shutdown-timeout (default 30 s);
  - every job file a container runs is mounted from a ConfigMap of the render that holds
    that key; every ConfigMap and Secret referenced exists (a Secret may be left to the
    cluster only where the render generates none, as in prod);
  - the PodDisruptionBudget selects the StatefulSet's pods and no others (not the batch
    CronJob's), and does not block drains (maxUnavailable 0 / minAvailable = replicas);
  - the CronJob forbids overlapping runs; pods run as non-root with a read-only root
    filesystem and an emptyDir at /tmp; images are tagged and not `latest`;
  - the job files in the base are byte-for-byte copies of config/.
Exits 1 with every failure listed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import importlib.metadata

import yaml
from kubernetes_validate import utils as kv

failures: list[str] = []


def fail(where: str, message: str) -> None:
    failures.append(f"{where}: {message}")


def docs_of(path: Path) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    if not docs:
        raise SystemExit(f"error: {path} holds no documents (did the render fail?)")
    return docs


def name_of(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def validate_schema(overlay: str, doc: dict, version: str) -> None:
    try:
        got = kv.validate(doc, version, strict=True)
        print(f"ok    {overlay:<5} {name_of(doc):<42} schema {got} strict")
    except kv.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(top)"
        fail(f"{overlay} {name_of(doc)}", f"schema {e.version} strict: {path}: {e.message}")
        print(f"FAIL  {overlay:<5} {name_of(doc):<42} schema: {path}: {e.message}")
    except (kv.SchemaNotFoundError, kv.InvalidSchemaError, kv.VersionNotSupportedError) as e:
        fail(f"{overlay} {name_of(doc)}", f"no schema to validate against: {e}")
        print(f"FAIL  {overlay:<5} {name_of(doc):<42} no schema: {e}")


def selects(selector: dict, labels: dict) -> bool:
    """A LabelSelector ({matchLabels: ...}); matchExpressions are not used here, so they
    count as a mismatch. An empty selector would select everything: a mismatch too."""
    if set(selector) - {"matchLabels"}:
        return False
    return selects_map(selector.get("matchLabels", {}), labels)


def selects_map(wanted: dict, labels: dict) -> bool:
    """A Service's selector: a plain label map."""
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def port_number(container: dict, port) -> int | None:
    for p in container.get("ports", []):
        if port in (p.get("name"), p.get("containerPort")):
            return p["containerPort"]
    return None


def duration_s(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|min)?", text.strip())
    if not m:
        raise ValueError(f"cannot read duration {text!r}")
    scale = {"ms": 0.001, None: 1, "s": 1, "m": 60, "min": 60}[m.group(2)]
    return float(m.group(1)) * scale


def shutdown_timeout_s(args: list[str]) -> float:
    for i, a in enumerate(args):
        if a.startswith("--shutdown-timeout="):
            return duration_s(a.split("=", 1)[1])
        if a == "--shutdown-timeout" and i + 1 < len(args):
            return duration_s(args[i + 1])
    return 30.0  # the CLI's default


def check_pod(where: str, pod: dict, objects: dict, generated_secrets: bool) -> None:
    """What every pod here needs: security, /tmp, images, mounted job files, refs."""
    spec = pod["spec"]
    sc = spec.get("securityContext", {})
    if sc.get("runAsNonRoot") is not True:
        fail(where, "pod securityContext.runAsNonRoot is not true")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        cw = f"{where} container {c['name']}"
        if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            fail(cw, "readOnlyRootFilesystem is not true")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        tmp = mounts.get("/tmp")
        if not tmp or "emptyDir" not in volumes.get(tmp["name"], {}):
            fail(cw, "no emptyDir mounted at /tmp (the root filesystem is read-only)")
        image = c.get("image", "")
        if "/" not in image or ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            fail(cw, f"image {image!r} is not a registry image with a pinned tag")
        # The job file: `run FILE` in args, or in the shell script of a CronJob.
        text = " ".join(c.get("command", []) + c.get("args", []))
        files = re.findall(r"\brun\s+(/\S+\.ya?ml)", text)
        if not files:
            fail(cw, "runs no `sluice run /path/job.yaml`")
        for f in files:
            check_job_file_mounted(cw, f, mounts, volumes, objects)
        for ref in c.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in ref:
                    check_ref(cw, kind, ref[key]["name"], objects, generated_secrets)
    for v in volumes.values():
        if "configMap" in v:
            check_ref(f"{where} volume {v['name']}", "ConfigMap", v["configMap"]["name"], objects, generated_secrets)
        if "secret" in v:
            check_ref(f"{where} volume {v['name']}", "Secret", v["secret"]["secretName"], objects, generated_secrets)


def check_ref(where: str, kind: str, name: str, objects: dict, generated_secrets: bool) -> None:
    if (kind, name) in objects:
        return
    if kind == "Secret" and not generated_secrets:
        print(f"note  {where}: Secret {name} is not in the render; it must exist in the cluster")
        return
    fail(where, f"refers to {kind} {name}, which the render does not contain")


def check_job_file_mounted(where, path, mounts, volumes, objects) -> None:
    for mount_path, m in mounts.items():
        if m.get("subPath"):
            if mount_path != path:
                continue
            key = m["subPath"]
        elif path.startswith(mount_path.rstrip("/") + "/"):
            key = path[len(mount_path.rstrip("/")) + 1 :]
        else:
            continue
        cm_name = volumes.get(m["name"], {}).get("configMap", {}).get("name")
        if cm_name is None:
            fail(where, f"job file {path} is mounted from volume {m['name']}, not a ConfigMap")
            return
        cm = objects.get(("ConfigMap", cm_name))
        if cm is None:
            fail(where, f"job file {path}: ConfigMap {cm_name} is not in the render")
        elif key not in (cm.get("data") or {}):
            fail(where, f"job file {path}: ConfigMap {cm_name} has no key {key!r}")
        return
    fail(where, f"job file {path} is not mounted from any volume")


def check_overlay(overlay: str, docs: list[dict]) -> None:
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    generated_secrets = any(d["kind"] == "Secret" for d in docs)
    by_kind = lambda k: [d for d in docs if d["kind"] == k]  # noqa: E731
    stss, pdbs, crons = by_kind("StatefulSet"), by_kind("PodDisruptionBudget"), by_kind("CronJob")
    if len(stss) != 1 or len(pdbs) != 1 or len(crons) != 1:
        fail(overlay, f"want 1 StatefulSet, 1 PodDisruptionBudget, 1 CronJob; got "
             f"{len(stss)}, {len(pdbs)}, {len(crons)}")
        return
    sts, pdb, cron = stss[0], pdbs[0], crons[0]
    where = f"{overlay} {name_of(sts)}"
    spec = sts["spec"]
    pod = spec["template"]
    labels = pod["metadata"].get("labels", {})
    replicas = spec.get("replicas", 1)

    if spec.get("podManagementPolicy") != "Parallel":
        fail(where, "podManagementPolicy is not Parallel (timely needs all peers at once)")
    if not selects(spec["selector"], labels):
        fail(where, "selector does not match the pod template's labels")
    svc = objects.get(("Service", spec.get("serviceName")))
    if svc is None:
        fail(where, f"serviceName {spec.get('serviceName')!r} names no Service in the render")
    else:
        s = svc["spec"]
        if s.get("clusterIP") != "None":
            fail(where, f"Service {svc['metadata']['name']} is not headless (clusterIP: None)")
        if s.get("publishNotReadyAddresses") is not True:
            fail(where, "the headless Service does not publish not-ready addresses")
        if not selects_map(s.get("selector", {}), labels):
            fail(where, "the headless Service's selector does not match the pods")

    containers = pod["spec"]["containers"]
    c = next((c for c in containers if c["name"] == "sluice"), None)
    if c is None:
        fail(where, "no container named sluice")
        return
    env = {e["name"]: e for e in c.get("env", [])}
    timely = port_number(c, "timely")
    metrics = port_number(c, "metrics")
    if timely is None or metrics is None:
        fail(where, "the container needs ports named timely and metrics")
        return
    svc_name = spec.get("serviceName")
    want = [f"{sts['metadata']['name']}-{i}.{svc_name}:{timely}" for i in range(replicas)]
    hosts = env.get("SLUICE_HOSTS", {}).get("value", "").split(",")
    fqdn = [h.replace(f".{svc_name}:", f".{svc_name}.{sts['metadata'].get('namespace')}.svc.cluster.local:") for h in want]
    if hosts not in (want, fqdn):
        fail(where, f"SLUICE_HOSTS is {','.join(hosts)!r}; with replicas {replicas} it must be {','.join(want)!r}")
    if env.get("SLUICE_PROCESS", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
        fail(where, "SLUICE_PROCESS is not the pod name (fieldRef metadata.name)")
    listen = env.get("SLUICE_METRICS_LISTEN", {}).get("value", "")
    if not listen.endswith(f":{metrics}"):
        fail(where, f"SLUICE_METRICS_LISTEN {listen!r} is not on the metrics port {metrics}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet")
        if not get:
            fail(where, f"no {probe} httpGet")
        elif port_number(c, get.get("port")) != metrics or get.get("path") != path:
            fail(where, f"{probe} is {get.get('path')} on port {get.get('port')}; want {path} on metrics ({metrics})")
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    try:
        timeout = shutdown_timeout_s(c.get("args", []))
    except ValueError as e:
        fail(where, f"--shutdown-timeout: {e} (write it as 30s, 90s or 2m)")
        timeout = 30.0
    if not grace > max(timeout, 30):
        fail(where, f"terminationGracePeriodSeconds {grace} is not above the shutdown timeout ({timeout:g} s) and 30 s")
    check_pod(where, pod, objects, generated_secrets)

    pw = f"{overlay} {name_of(pdb)}"
    p = pdb["spec"]
    if not selects(p.get("selector", {}), labels):
        fail(pw, "selector does not match the StatefulSet's pods")
    cron_pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    cron_labels = cron_pod["metadata"].get("labels", {})
    if selects(p.get("selector", {}), cron_labels):
        fail(pw, "selector also matches the batch CronJob's pods")
    if svc is not None and selects_map(svc["spec"].get("selector", {}), cron_labels):
        fail(where, "the headless Service also selects the batch CronJob's pods")
    if str(p.get("maxUnavailable", "")) in ("0", "0%") or str(p.get("minAvailable", "")) in (str(replicas), "100%"):
        fail(pw, "allows no disruption: every node drain would block forever")

    cw = f"{overlay} {name_of(cron)}"
    if cron["spec"].get("concurrencyPolicy") != "Forbid":
        fail(cw, "concurrencyPolicy is not Forbid (two runs of one date could overlap)")
    check_pod(cw, cron_pod, objects, generated_secrets)


def check_copies(base: Path, config: Path) -> None:
    copies = [f for f in sorted(base.glob("*.yaml")) if (config / f.name).exists()]
    if len(copies) < 2:
        fail(str(base), "expected the job files kafka-events-to-delta.yaml and batch-etl.yaml, copied from config/")
    for f in copies:
        if f.read_bytes() != (config / f.name).read_bytes():
            fail(str(f), f"differs from {config / f.name}: copy it again (cp {config / f.name} {f})")
        else:
            print(f"ok    copy  {f.name:<42} = config/{f.name}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s", required=True, help="Kubernetes version of the schemas, e.g. 1.30.0")
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("renders", nargs="+", help="OVERLAY=rendered.yaml")
    a = ap.parse_args()
    print(f"kubernetes-validate {importlib.metadata.version('kubernetes-validate')}, Kubernetes {a.k8s} schemas (strict)")
    for item in a.renders:
        overlay, _, path = item.partition("=")
        docs = docs_of(Path(path))
        for d in docs:
            validate_schema(overlay, d, a.k8s)
        check_overlay(overlay, docs)
    check_copies(a.base, a.config)
    if failures:
        print(f"\n{len(failures)} deploy check(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("invariants ok: service, hosts, probes, grace period, job files, refs, PDB, CronJob, security")
    return 0


if __name__ == "__main__":
    sys.exit(main())
