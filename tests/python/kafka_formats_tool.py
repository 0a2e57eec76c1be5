"""Kafka message formats for the end-to-end tests: an encoder independent of sluice
(fastavro and confluent-kafka) and a checker reading sluice's Delta tables with DuckDB.

    kafka_formats_tool.py produce --brokers B --topic T --format avro|avro-confluent|string
        --count N --seed S --expected OUT.jsonl [--schema-file F.avsc]
        Creates T with 3 partitions and writes N messages; every 25th is malformed
        (a truncated Avro datum, a missing magic byte, or invalid UTF-8). OUT.jsonl gets
        one line per message: partition, offset, whether it is good, the record (good
        Avro records), the text (good strings) and the bytes sent (base64).

    kafka_formats_tool.py check --dir OUT --format F --expected OUT.jsonl
        Reads OUT/bronze and OUT/dlq with DuckDB's delta_scan and checks that
        bronze holds exactly the good messages with their values, and the dead-letter table
        exactly the malformed ones (reason parse_error, coordinates, payload bytes).
"""

import argparse
import base64
import io
import json
import random
import sys
import time

AVSC = {
    "type": "record",
    "name": "Reading",
    "namespace": "sluice.test",
    "fields": [
        {"name": "device", "type": "string"},
        {"name": "seq", "type": "long"},
        {"name": "temperature", "type": ["null", "double"], "default": None},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ok", "type": "boolean"},
        {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]}},
    ],
}

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def record(rng, i):
    return {
        "device": f"dev-{rng.randrange(20)}",
        "seq": i,
        "temperature": None if rng.random() < 0.1 else round(rng.uniform(-20, 40), 3),
        "at": BASE_MS + i * 1000,
        "ok": rng.random() < 0.5,
        "level": rng.choice(["LOW", "HIGH"]),
    }


def encode(fmt, rng, i, schema):
    """(bytes, good, payload-for-expected) of message i."""
    import fastavro

    bad = i % 25 == 7
    if fmt.startswith("avro"):
        rec = record(rng, i)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, dict(rec, at=rec["at"]))
        datum = buf.getvalue()
        if fmt == "avro-confluent":
            framed = b"\x00" + (7).to_bytes(4, "big") + datum
            return (framed[1:] if bad else framed), not bad, rec
        return (datum[: len(datum) // 2] if bad else datum), not bad, rec
    text = f"line {i}: {rng.choice(['GET', 'POST'])} /item/{rng.randrange(1000)} é"
    data = text.encode("utf-8")
    if bad:
        return b"\xff\xfe" + data, False, None
    return data, True, text


def produce(args):
    import fastavro
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": args.brokers})
    for f in admin.create_topics([NewTopic(args.topic, num_partitions=3, replication_factor=1)]).values():
        f.result(30)
    schema = None
    if args.format.startswith("avro"):
        with open(args.schema_file, "w") as f:
            json.dump(AVSC, f, indent=2)
        schema = fastavro.parse_schema(AVSC)
    rng = random.Random(args.seed)
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": False, "acks": "all"})
    sent = {}
    errors = []

    def delivered(err, msg, i):
        if err is not None:
            errors.append(str(err))
        else:
            sent[i]["partition"] = msg.partition()
            sent[i]["offset"] = msg.offset()

    for i in range(args.count):
        data, good, value = encode(args.format, rng, i, schema)
        sent[i] = {"good": good, "value": value, "bytes": base64.b64encode(data).decode()}
        producer.produce(args.topic, value=data, partition=i % 3, on_delivery=lambda e, m, i=i: delivered(e, m, i))
        producer.poll(0)
    if producer.flush(60) != 0 or errors:
        sys.exit(f"produce failed: {errors[:3]}")
    with open(args.expected, "w") as f:
        for i in range(args.count):
            f.write(json.dumps(sent[i]) + "\n")
    print(f"produced {args.count} {args.format} messages to {args.topic}")


def check(args):
    import os

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from delta_checks import connect  # loads the Delta extension offline

    expected = [json.loads(line) for line in open(args.expected)]
    con = connect()

    def scan(table):
        return f"delta_scan('{args.dir}/{table}')"

    failures = []
    good = {(e["partition"], e["offset"]): e for e in expected if e["good"]}
    bad = {(e["partition"], e["offset"]): e for e in expected if not e["good"]}
    if args.format.startswith("avro"):
        rows = con.execute(
            "SELECT partition, \"offset\", device, seq, temperature, epoch_ms(\"at\"), ok, level FROM "
            + scan("bronze")
        ).fetchall()
        got = {}
        for p, o, device, seq, temp, at_ms, ok, level in rows:
            got[(p, o)] = {"device": device, "seq": seq, "temperature": temp, "at": at_ms, "ok": ok, "level": level}
        want = {k: e["value"] for k, e in good.items()}
    else:
        rows = con.execute(f"SELECT partition, \"offset\", value FROM {scan('bronze')}").fetchall()
        got = {(p, o): v for p, o, v in rows}
        want = {k: e["value"] for k, e in good.items()}
    if len(rows) != len(got):
        failures.append(f"bronze has {len(rows) - len(got)} duplicate coordinates")
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(want) & set(got) if got[k] != want[k])
    if missing or extra or wrong:
        failures.append(
            f"bronze: {len(missing)} missing {missing[:3]}, {len(extra)} unexpected {extra[:3]}, "
            f"{len(wrong)} wrong {[(k, got[k], want[k]) for k in wrong[:2]]}"
        )
    dead = con.execute(
        f"SELECT partition, \"offset\", reason, payload, error FROM {scan('dlq')}"
    ).fetchall()
    got_dead = {(p, o): (reason, payload, error) for p, o, reason, payload, error in dead}
    if sorted(got_dead) != sorted(bad) or len(dead) != len(got_dead):
        failures.append(f"dead letters at {sorted(got_dead)[:5]}... ({len(dead)} rows) but malformed messages at {sorted(bad)[:5]}... ({len(bad)})")
    for k, (reason, payload, error) in got_dead.items():
        if k not in bad:
            continue
        if reason != "parse_error":
            failures.append(f"{k}: reason {reason}")
        if payload != "base64:" + bad[k]["bytes"]:
            failures.append(f"{k}: payload {payload[:40]} is not the bytes sent")
        if not error:
            failures.append(f"{k}: no error detail")
    report = {"check": "kafka-format", "format": args.format, "bronze": len(rows), "dead_letters": len(dead),
              "good_sent": len(good), "bad_sent": len(bad), "ok": not failures, "failures": failures[:10]}
    print(json.dumps(report))
    if failures:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--format", required=True, choices=["avro", "avro-confluent", "string"])
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--expected", required=True)
    p.add_argument("--schema-file")
    c = sub.add_parser("check")
    c.add_argument("--dir", required=True)
    c.add_argument("--format", required=True)
    c.add_argument("--expected", required=True)
    args = ap.parse_args()
    start = time.time()
    produce(args) if args.cmd == "produce" else check(args)
    print(f"{args.cmd} took {time.time() - start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
