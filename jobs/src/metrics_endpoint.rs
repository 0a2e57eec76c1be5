//! The Prometheus endpoint: `GET /metrics` serves a run's registry as OpenMetrics text, from
//! its own thread (`sluice-metrics`), so a busy worker never delays a scrape. The same port
//! answers Kubernetes' probes: `GET /healthz` (200 while the process serves) and
//! `GET /readyz` (200 once the job has recovered and runs epochs, 503 before).

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

/// The OpenMetrics text format, as Prometheus negotiates it.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Metrics flags shared by `sluice run` and `sluice demo`; they override the job file's
/// `metrics` section.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 0.0.0.0:9464).
    #[arg(long, value_name = "ADDR", env = "SLUICE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Keep serving metrics this long after the job ends (e.g. 30s), so that a last scrape
    /// sees a bounded job's final figures.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    metrics_linger: Option<Duration>,
}

impl MetricsArgs {
    /// Applies the flags to `config`.
    pub fn apply(&self, config: &mut sluice_config::MetricsConfig) {
        if let Some(listen) = self.metrics_listen {
            config.listen = Some(listen);
        }
        if let Some(linger) = self.metrics_linger {
            config.linger = Some(linger);
        }
    }
}

/// Whether the job is ready (recovered, running epochs), for `/readyz`. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the job ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A running endpoint; dropping it stops the server.
pub struct MetricsEndpoint {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Serves `registry` on `listen`.
    ///
    /// # Errors
    /// When the address cannot be bound (in use, not local) or the thread cannot start.
    pub fn serve(registry: Arc<Registry>, listen: SocketAddr, ready: Readiness) -> Result<Self> {
        let listener = TcpListener::bind(listen)
            .with_context(|| format!("metrics endpoint: cannot listen on {listen}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sluice-metrics".into())
            .spawn(move || {
                if let Err(err) = serve_until(listener, registry, ready, stopped) {
                    tracing::error!(%addr, error = %err, "metrics endpoint stopped");
                }
            })
            .context("starting the metrics thread")?;
        tracing::info!(%addr, "serving Prometheus metrics at /metrics");
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_until(
    listener: TcpListener,
    registry: Arc<Registry>,
    ready: Readiness,
    stopped: oneshot::Receiver<()>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::pin!(stopped);
        loop {
            let stream = tokio::select! {
                _ = &mut stopped => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // A connection that failed before it was accepted (reset, out of
                    // descriptors for a moment) costs that scrape only.
                    Err(err) => {
                        tracing::warn!(error = %err, "metrics endpoint: accept failed");
                        continue;
                    }
                },
            };
            let registry = Arc::clone(&registry);
            let ready = ready.clone();
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(&registry, &ready, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(async move {
                if let Err(err) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %err, "metrics endpoint: connection ended");
                }
            });
        }
    })
}

fn respond(
    registry: &Registry,
    ready: &Readiness,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, registry) {
                Ok(()) => reply(StatusCode::OK, CONTENT_TYPE, text),
                Err(err) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("encoding metrics: {err}\n"),
                ),
            }
        }
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        (&Method::GET, "/readyz") if ready.get() => {
            reply(StatusCode::OK, "text/plain", "ready\n".into())
        }
        (&Method::GET, "/readyz") => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready: the job is starting or recovering\n".into(),
        ),
        (&Method::GET, "/") => reply(
            StatusCode::OK,
            "text/plain",
            "sluice: metrics at /metrics, probes at /healthz and /readyz\n".into(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn serves_the_registry_and_refuses_a_taken_port() {
        let mut registry = Registry::default();
        let metrics = sluice_engine::metrics::RunMetrics::register(&mut registry);
        metrics.record_read("gen", 5);
        let ready = Readiness::default();
        let endpoint = MetricsEndpoint::serve(
            Arc::new(registry),
            "127.0.0.1:0".parse().unwrap(),
            ready.clone(),
        )
        .unwrap();
        let page = get(endpoint.addr(), "/metrics");
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains(CONTENT_TYPE), "{page}");
        assert!(
            page.contains("sluice_source_records_total{source=\"gen\"} 5"),
            "{page}"
        );
        assert!(page.trim_end().ends_with("# EOF"), "{page}");
        assert!(get(endpoint.addr(), "/nope").starts_with("HTTP/1.1 404"));
        assert!(get(endpoint.addr(), "/healthz").starts_with("HTTP/1.1 200"));
        assert!(get(endpoint.addr(), "/readyz").starts_with("HTTP/1.1 503"));
        ready.set(true);
        assert!(get(endpoint.addr(), "/readyz").starts_with("HTTP/1.1 200"));
        let taken = MetricsEndpoint::serve(
            Arc::new(Registry::default()),
            endpoint.addr(),
            Readiness::default(),
        );
        let err = format!("{:#}", taken.err().unwrap());
        assert!(err.contains("cannot listen on"), "{err}");
    }
}
