//! The accept loop: every connection served by hyper's HTTP/1 server with bounds on how
//! long a client may hold it without doing anything useful, and on how many one client
//! may hold at once.
//!
//! - **Header timeout**: once a client starts sending a request head it has
//!   [`Limits::header`] to finish it (slowloris).
//! - **Idle timeout**: a keep-alive connection with no request in progress is closed after
//!   [`Limits::idle`]; so is one whose client stops reading a response for that long.
//! - **Per-client limit**: a client address (an IPv6 /64) may hold
//!   [`Limits::conns_per_client`] connections; past it, a connection gets one `503` with
//!   `Retry-After` (through the router, so it is logged and counted) and is closed.
//!
//! A request in progress (a handler working, a response streaming) is never cut by these:
//! its limits are the request timeouts of [`super::frame`].

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tower::Service;

use super::Limits;
use super::frame::{FromWire, OverConnectionLimit};

/// Serves `app` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish (new ones on kept-alive connections are refused) before returning.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let clients = Clients::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    let mut refusing = builder.clone();
    refusing.keep_alive(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or an aborted handshake: wait a
                    // little instead of spinning, as connections close meanwhile.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let slot = clients.enter(peer.ip(), limits.conns_per_client);
        let over = slot.is_none();
        let state = Arc::new(ConnState::new());
        let io = TokioIo::new(Guarded {
            stream,
            state: state.clone(),
        });
        let mut conn_limits = limits;
        if over {
            // A refused connection gets its one answer quickly or not at all.
            conn_limits.header = limits.header.min(Duration::from_secs(2));
            conn_limits.idle = limits.idle.min(Duration::from_secs(2));
        }
        let watchdog = watch(state.clone(), conn_limits);
        let service = ConnService {
            app: app.clone(),
            peer,
            over,
            state,
        };
        let conn = if over {
            refusing.serve_connection(io, service)
        } else {
            builder.serve_connection(io, service)
        };
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                why = watchdog => tracing::debug!(peer = %peer, why, "connection closed"),
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Open connections per client key.
#[derive(Clone, Default)]
struct Clients(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl Clients {
    /// Counts a new connection from `ip`; `None` when the client is at its limit.
    fn enter(&self, ip: IpAddr, limit: usize) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_default();
        if limit > 0 && *count >= limit {
            if *count == 0 {
                open.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            key,
        })
    }
}

/// An IPv4 address, or the /64 an IPv6 address is in (one host usually has a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
        v4 => v4,
    }
}

struct ClientSlot {
    clients: Clients,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What the connection's watchdog ([`watch`]) needs to know: requests in progress and the
/// times of the last I/O, written by the socket wrapper ([`Guarded`]) and the service.
struct ConnState {
    /// Requests handed to the router whose response has not been fully written (or
    /// dropped) yet.
    busy: AtomicUsize,
    /// Milliseconds since `opened` (+1, so that 0 means "none") of the last byte read or
    /// written, of the first byte of a request head not yet complete, and of the start of
    /// a write the client is not reading.
    last_io: AtomicU64,
    head_started: AtomicU64,
    write_blocked: AtomicU64,
    opened: Instant,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            busy: AtomicUsize::new(0),
            last_io: AtomicU64::new(1),
            head_started: AtomicU64::new(0),
            write_blocked: AtomicU64::new(0),
            opened: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// When the connection is to be closed if nothing changes, and why; `None`: not while
    /// a request is being worked on.
    fn deadline(&self, limits: &Limits) -> Option<(u64, &'static str)> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2);
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        if blocked > 0 {
            return Some((
                blocked + ms(limits.idle),
                "the client stopped reading the response",
            ));
        }
        if self.busy.load(Ordering::Relaxed) > 0 {
            return None;
        }
        match self.head_started.load(Ordering::Relaxed) {
            0 => Some((
                self.last_io.load(Ordering::Relaxed) + ms(limits.idle),
                "idle keep-alive timeout",
            )),
            started => Some((started + ms(limits.header), "request head timeout")),
        }
    }
}

/// Resolves when the connection has been idle, slow to send a request head or not reading
/// its response for too long (see the module documentation); the caller then drops it.
async fn watch(state: Arc<ConnState>, limits: Limits) -> &'static str {
    loop {
        let wake = match state.deadline(&limits) {
            Some((deadline, why)) => {
                if state.now() >= deadline {
                    return why;
                }
                deadline
            }
            // A handler at work: look again later (its own limits are the frame's).
            None => state.now() + u64::try_from(limits.idle.as_millis()).unwrap_or(60_000),
        };
        // A request head may start while we sleep towards the idle deadline: look again
        // within one header limit, so a slow head is cut within twice that at most.
        let recheck = state.now()
            + u64::try_from(limits.header.as_millis())
                .unwrap_or(10_000)
                .max(100);
        let wake = wake.min(recheck);
        tokio::time::sleep_until(state.opened + Duration::from_millis(wake - 1)).await;
    }
}

/// The router as hyper's service for one connection: adds the peer address (and, over the
/// limit, the refusal marker) and counts the request as busy until its body is done.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    over: bool,
    state: Arc<ConnState>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = hyper::Response<BusyBody>;
    type Error = std::convert::Infallible;
    type Future = BusyFuture;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(self.peer));
        extensions.insert(FromWire);
        if self.over {
            extensions.insert(OverConnectionLimit);
        }
        self.state.busy.fetch_add(1, Ordering::Relaxed);
        self.state.head_started.store(0, Ordering::Relaxed);
        let busy = Busy(self.state.clone());
        BusyFuture {
            inner: self.app.clone().call(request),
            busy: Some(busy),
        }
    }
}

/// Marks a request in progress on its connection while alive.
struct Busy(Arc<ConnState>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

struct BusyFuture {
    inner: axum::routing::future::RouteFuture<std::convert::Infallible>,
    busy: Option<Busy>,
}

impl Future for BusyFuture {
    type Output = Result<hyper::Response<BusyBody>, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Poll::Ready(Ok(response)) = Pin::new(&mut this.inner).poll(cx) else {
            return Poll::Pending;
        };
        let busy = this.busy.take();
        Poll::Ready(Ok(response.map(|inner| BusyBody { inner, _busy: busy })))
    }
}

/// A response body that keeps its request counted as in progress until it is done.
struct BusyBody {
    inner: Body,
    _busy: Option<Busy>,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting the times of its I/O for the watchdog.
struct Guarded {
    stream: TcpStream,
    state: Arc<ConnState>,
}

impl Guarded {
    fn wrote(&self) {
        let state = &self.state;
        state.last_io.store(state.now(), Ordering::Relaxed);
        state.head_started.store(0, Ordering::Relaxed);
        state.write_blocked.store(0, Ordering::Relaxed);
    }

    fn write_pending(&self) {
        let state = &self.state;
        if state.write_blocked.load(Ordering::Relaxed) == 0 {
            state.write_blocked.store(state.now(), Ordering::Relaxed);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            let state = &self.state;
            let now = state.now();
            state.last_io.store(now, Ordering::Relaxed);
            if state.busy.load(Ordering::Relaxed) == 0
                && state.head_started.load(Ordering::Relaxed) == 0
            {
                state.head_started.store(now, Ordering::Relaxed);
            }
        }
        result
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        match result {
            Poll::Ready(_) => self.wrote(),
            Poll::Pending => self.write_pending(),
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        match result {
            Poll::Ready(_) => self.wrote(),
            Poll::Pending => self.write_pending(),
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
