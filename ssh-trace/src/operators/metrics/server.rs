//! A small HTTP endpoint serving the metrics (GET /metrics) on its own
//! thread. The listener is bound by the caller before privileges are dropped.
use std::{net::TcpListener, sync::Arc};

use anyhow::{Context, Result};
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("--metrics-listen {addr}: cannot listen"))
}

pub fn serve(listener: TcpListener, registry: Arc<Registry>) -> Result<()> {
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| anyhow::anyhow!("metrics server: {e}"))?;
    std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            for req in server.incoming_requests() {
                let path = req.url().split('?').next().unwrap_or("");
                // Prometheus asks for OpenMetrics; plain clients get the classic format.
                let openmetrics = req.headers().iter().any(|h| {
                    h.field.equiv("Accept")
                        && h.value.as_str().contains("application/openmetrics-text")
                });
                let resp = if path == "/metrics" || path == "/" {
                    let om = super::encode(&registry);
                    let (body, ct) = if openmetrics {
                        (om, CONTENT_TYPE)
                    } else {
                        (
                            super::classic::from_openmetrics(&om),
                            super::classic::CONTENT_TYPE,
                        )
                    };
                    let h =
                        tiny_http::Header::from_bytes("Content-Type", ct).expect("static header");
                    tiny_http::Response::from_string(body).with_header(h)
                } else {
                    tiny_http::Response::from_string("not found: try /metrics\n")
                        .with_status_code(404)
                };
                let _ = req.respond(resp);
            }
        })
        .context("starting the metrics thread")?;
    Ok(())
}
