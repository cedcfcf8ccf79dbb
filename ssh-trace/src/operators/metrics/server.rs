//! The metrics endpoint: HTTP/1.1 (hyper) on the agent's own runtime, one
//! task per connection and no thread of its own. Any local user can connect,
//! so everything a client controls is bounded: the request head's size and
//! header count, bodies (refused unread), the connections served at once, the
//! time to send a request and a connection's whole life and request count.
//! The listener is bound by the caller before privileges are dropped.
use std::{
    collections::VecDeque,
    convert::Infallible,
    net::TcpListener as StdListener,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::{
    body::{Body as _, Bytes, Incoming},
    header::{self, HeaderMap, HeaderValue},
    server::conn::http1,
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::{net::TcpListener, sync::oneshot};

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Connections served at once. At the cap the oldest is closed to make room
/// for the newest: whoever holds every slot cannot lock a scraper out, and
/// it takes a newer connection for each slot taken from an older one.
pub const MAX_CONNECTIONS: usize = 64;
/// Request line and headers together: hyper's read buffer (8 KiB at least);
/// a longer head gets 431 (414 for a long request line) and is closed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 32;
/// For a whole request head, counted from the connect and again after each
/// response, so an idle keep-alive connection is closed after it too.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection's whole life, however it is spent (say reading slowly).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// Keep-alive: the response to this request of a connection closes it.
pub const MAX_REQUESTS_PER_CONNECTION: u32 = 100;

pub fn bind(addr: &str) -> Result<StdListener> {
    let l = StdListener::bind(addr)
        .with_context(|| format!("--metrics-listen {addr}: cannot listen"))?;
    l.set_nonblocking(true)
        .with_context(|| format!("--metrics-listen {addr}: non-blocking"))?;
    Ok(l)
}

/// Serves on the current tokio runtime (a task; called from inside it).
pub fn serve(listener: StdListener, registry: Arc<Registry>) -> Result<()> {
    let listener = TcpListener::from_std(listener)
        .context("metrics listener: registering with the runtime")?;
    tokio::spawn(accept(listener, registry));
    Ok(())
}

async fn accept(listener: TcpListener, registry: Arc<Registry>) {
    let slots = Arc::new(Mutex::new(Slots::new(MAX_CONNECTIONS)));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, or a connection gone before it was
                // accepted: wait for the cause to pass and go on serving.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (id, closed) = lock(&slots).admit();
        let (slots, registry) = (slots.clone(), registry.clone());
        tokio::spawn(async move {
            connection(stream, &registry, closed).await;
            lock(&slots).release(id);
        });
    }
}

fn lock(slots: &Mutex<Slots>) -> std::sync::MutexGuard<'_, Slots> {
    slots.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection, until it ends, is evicted (`closed`) or has lived its time.
async fn connection(
    stream: tokio::net::TcpStream,
    registry: &Registry,
    closed: oneshot::Receiver<()>,
) {
    let served = AtomicU32::new(0);
    let service = service_fn(|req: Request<Incoming>| {
        let n = served.fetch_add(1, Ordering::Relaxed) + 1;
        let resp = respond(&req, registry, n >= MAX_REQUESTS_PER_CONNECTION);
        std::future::ready(Ok::<_, Infallible>(resp))
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    // Whichever ends first; dropping the connection closes the socket.
    tokio::select! {
        _ = conn => {}
        _ = closed => {}
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
    }
}

fn respond(req: &Request<Incoming>, registry: &Registry, last: bool) -> Response<Full<Bytes>> {
    let route = route(req.method(), req.uri().path(), !req.body().is_end_stream());
    let (status, content_type, body) = match route {
        Route::Metrics => {
            let om = super::encode(registry);
            if wants_openmetrics(req.headers()) {
                (StatusCode::OK, CONTENT_TYPE, om)
            } else {
                let classic = super::classic::from_openmetrics(&om);
                (StatusCode::OK, super::classic::CONTENT_TYPE, classic)
            }
        }
        Route::BodyRefused => (
            StatusCode::PAYLOAD_TOO_LARGE,
            TEXT,
            "request bodies are not accepted\n".into(),
        ),
        Route::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "method not allowed: GET /metrics\n".into(),
        ),
        Route::NotFound => (
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /metrics\n".into(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if route == Route::MethodNotAllowed {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    // An unread body leaves the connection unusable: close it, as after the
    // last request a connection may make.
    if last || route == Route::BodyRefused {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    BodyRefused,
    MethodNotAllowed,
    NotFound,
}

/// A request with a body (announced by a length or chunked) is refused
/// whatever it asks for, before its body is read.
fn route(method: &Method, path: &str, has_body: bool) -> Route {
    if has_body {
        Route::BodyRefused
    } else if method != Method::GET && method != Method::HEAD {
        Route::MethodNotAllowed
    } else if path == "/metrics" || path == "/" {
        Route::Metrics
    } else {
        Route::NotFound
    }
}

/// Prometheus asks for OpenMetrics; plain clients get the classic format.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.contains("application/openmetrics-text"))
    })
}

/// The connections being served, oldest first, each with the sender whose
/// drop closes it.
struct Slots {
    cap: usize,
    next_id: u64,
    open: VecDeque<(u64, oneshot::Sender<()>)>,
}

impl Slots {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            next_id: 0,
            open: VecDeque::with_capacity(cap),
        }
    }

    /// A slot for a new connection (at the cap, the oldest one's): its id
    /// and the receiver that resolves when it is to be closed.
    fn admit(&mut self) -> (u64, oneshot::Receiver<()>) {
        if self.open.len() >= self.cap {
            self.open.pop_front();
        }
        let (tx, rx) = oneshot::channel();
        let id = self.next_id;
        self.next_id += 1;
        self.open.push_back((id, tx));
        (id, rx)
    }

    fn release(&mut self, id: u64) {
        self.open.retain(|(open, _)| *open != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oneshot::error::TryRecvError;

    #[test]
    fn a_full_table_closes_the_oldest_connection_for_the_newest() {
        let mut slots = Slots::new(3);
        let mut rx: Vec<_> = (0..3).map(|_| slots.admit()).collect();
        assert!(rx
            .iter_mut()
            .all(|(_, r)| r.try_recv() == Err(TryRecvError::Empty)));
        let (id3, mut newest) = slots.admit();
        assert_eq!(rx[0].1.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(rx[1].1.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(newest.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(slots.open.len(), 3);
        // A connection that ended frees its slot: the next one evicts nobody.
        slots.release(rx[1].0);
        slots.release(rx[0].0); // already evicted: no effect
        assert_eq!(slots.open.len(), 2);
        let _fifth = slots.admit();
        assert_eq!(rx[2].1.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            slots.open.iter().map(|s| s.0).collect::<Vec<_>>(),
            [2, id3, 4]
        );
    }

    #[test]
    fn bodies_are_refused_before_method_and_path_are_looked_at() {
        for (m, p) in [(Method::GET, "/metrics"), (Method::POST, "/x")] {
            assert_eq!(route(&m, p, true), Route::BodyRefused);
        }
        assert_eq!(route(&Method::GET, "/metrics", false), Route::Metrics);
        assert_eq!(route(&Method::HEAD, "/", false), Route::Metrics);
        assert_eq!(route(&Method::GET, "/metrics/x", false), Route::NotFound);
        assert_eq!(
            route(&Method::POST, "/metrics", false),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&Method::DELETE, "/nope", false),
            Route::MethodNotAllowed
        );
    }

    #[test]
    fn openmetrics_only_when_an_accept_header_asks_for_it() {
        let mut h = HeaderMap::new();
        assert!(!wants_openmetrics(&h));
        h.append(header::ACCEPT, HeaderValue::from_static("text/plain"));
        assert!(!wants_openmetrics(&h));
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("application/openmetrics-text;version=1.0.0;q=0.75"),
        );
        assert!(wants_openmetrics(&h));
    }
}
