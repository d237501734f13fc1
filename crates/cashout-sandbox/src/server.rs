//! The sandbox's HTTP server: plain `axum::serve` with graceful shutdown, over a listener whose
//! connections a handler can drop on purpose (the `reset` fault).
//!
//! Each accepted [`TcpStream`] is wrapped in an [`AbortableStream`] that shares an abort switch
//! with the requests served on it (through axum's connect info, read by the [`Connection`]
//! extractor). A handler that calls [`ConnectionAbort::abort`] flips the switch: from then on every
//! read, write, flush and shutdown of that stream fails, so hyper cannot send a single byte of the
//! response; it gives up on the connection and drops the stream. The stream is closed with
//! `SO_LINGER` 0, so the client gets a TCP RST ("connection reset") right after having sent its
//! request on an established connection. Other connections, and requests on this connection before
//! the abort, are untouched.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Serves `router` on `listener` until `shutdown` completes, then shuts down gracefully (stops
/// accepting, lets in-flight requests finish).
pub(crate) async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(
        AbortableListener(listener),
        router.into_make_service_with_connect_info::<ConnectionAbort>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The abort switch shared by one connection's stream and the requests served on it.
#[derive(Default)]
struct Switch {
    aborted: AtomicBool,
    /// The task last parked reading the stream, woken on abort so it notices at once.
    reader: Mutex<Option<Waker>>,
}

impl Switch {
    fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lets a handler drop the TCP connection its request arrived on, without any HTTP response.
#[derive(Clone)]
pub(crate) struct ConnectionAbort(Arc<Switch>);

impl ConnectionAbort {
    /// Drops the connection: nothing more is read from or written to it (not even the response of
    /// the current request), and it is closed with a TCP RST.
    pub(crate) fn abort(&self) {
        self.0.aborted.store(true, Ordering::SeqCst);
        if let Some(waker) = self.0.reader().take() {
            waker.wake();
        }
    }
}

impl Connected<IncomingStream<'_, AbortableListener>> for ConnectionAbort {
    fn connect_info(stream: IncomingStream<'_, AbortableListener>) -> Self {
        Self(stream.io().switch.clone())
    }
}

/// Extractor: the abort switch of the request's connection, `None` when the router is not served
/// by [`serve_router`] (e.g. someone serves [`crate::Sandbox::router`] with plain `axum::serve`).
pub(crate) struct Connection(pub(crate) Option<ConnectionAbort>);

impl<S: Send + Sync> FromRequestParts<S> for Connection {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<ConnectionAbort>>()
                .map(|ConnectInfo(abort)| abort.clone()),
        ))
    }
}

/// A TCP listener whose connections are [`AbortableStream`]s.
pub(crate) struct AbortableListener(TcpListener);

impl Listener for AbortableListener {
    type Io = AbortableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop: retries (and logs) accept errors.
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let stream = AbortableStream {
            stream,
            switch: Arc::default(),
            lingering: false,
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream that fails every operation once its connection was aborted.
pub(crate) struct AbortableStream {
    stream: TcpStream,
    switch: Arc<Switch>,
    /// `SO_LINGER` 0 already set.
    lingering: bool,
}

impl AbortableStream {
    /// `Err` once aborted; the first time, also arms the RST on close.
    fn check(&mut self) -> io::Result<()> {
        if !self.switch.is_aborted() {
            return Ok(());
        }
        if !self.lingering {
            self.lingering = true;
            // Deprecated because a non-zero linger blocks the thread on drop; zero never blocks:
            // the close discards unsent data and sends a RST at once.
            #[allow(deprecated)]
            if let Err(error) = self.stream.set_linger(Some(Duration::ZERO)) {
                tracing::debug!(%error, "could not set SO_LINGER 0; the close will be a FIN");
            }
            tracing::info!("connection dropped by an injected reset fault");
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection dropped by an injected reset fault",
        ))
    }
}

impl AsyncRead for AbortableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        {
            let mut reader = this.switch.reader();
            if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *reader = Some(cx.waker().clone());
            }
        }
        // An abort between the first check and the registration would not have woken us.
        this.check()?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for AbortableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}
