//! HTTP/1.1 connections to the upstream server, kept open between requests
//! (keep-alive), so that a request does not pay for a TCP connection and
//! its close.
//!
//! A connection has no task of its own: the request using it drives it
//! ([`Driven::drive`]). hyper hands every chunk of an answer from the
//! connection to the body through a channel that holds one chunk; with the
//! connection in a task of its own, each chunk of a chunked stream (one
//! token, as llama.cpp and vLLM send them) costs two wake-ups across
//! tasks and threads.
//!
//! A connection goes back to the idle set only after its answer was read
//! to its end; one the server closed meanwhile is dropped when taken. A
//! server may still close a kept connection just as a request goes out on
//! it (llama.cpp's server closes each streamed answer's connection right
//! after its last chunk): the request then goes once more on a new
//! connection (`forward` in the engine).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use blindfold_driven_http::{ready_within, Driven};
use blindfold_engine::EngineError;

/// A connection's request sender.
pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
type Connection = hyper::client::conn::http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// Most idle connections kept.
const MAX_IDLE: usize = 64;
/// Longest wait for an idle connection to take a new request.
const READY_WAIT: Duration = Duration::from_millis(100);

/// One connection: its sender, and the connection itself.
pub(crate) struct Link {
    pub(crate) sender: Sender,
    /// Driven by whoever uses the link.
    pub(crate) connection: Driven<Connection>,
}

impl Link {
    fn is_open(&self) -> bool {
        self.connection.is_open() && !self.sender.is_closed()
    }
}

/// The idle connections to one upstream.
#[derive(Default)]
pub(crate) struct Connections {
    idle: Mutex<Vec<Link>>,
}

impl Connections {
    /// An idle connection that is still open and takes a request, and
    /// `true`; or a new one, and `false`.
    pub(crate) async fn get(&self, address: SocketAddr) -> Result<(Link, bool), EngineError> {
        loop {
            let Some(mut link) = self.lock().pop() else {
                break;
            };
            if ready_within(&mut link.sender, &mut link.connection, READY_WAIT).await {
                return Ok((link, true));
            }
        }
        Ok((connect(address).await?, false))
    }

    /// Keeps `link`, whose last answer was read to its end.
    pub(crate) fn put(&self, link: Link) {
        let mut idle = self.lock();
        if link.is_open() && idle.len() < MAX_IDLE {
            idle.push(link);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Link>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A new connection to `address`.
pub(crate) async fn connect(address: SocketAddr) -> Result<Link, EngineError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| EngineError::Upstream(format!("connecting to {address}: {e}")))?;
    // Streamed tokens are small writes: no delayed-ACK stalls.
    stream
        .set_nodelay(true)
        .map_err(|e| EngineError::Upstream(format!("connecting to {address}: {e}")))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| EngineError::Upstream(format!("HTTP handshake: {e}")))?;
    Ok(Link {
        sender,
        connection: Driven::new(connection),
    })
}
