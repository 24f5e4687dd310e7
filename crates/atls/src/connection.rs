//! The HTTP/1.1 connection under an attested session, as a value: whoever
//! uses the session can drive it in its own task ([`SessionConnection::drive`])
//! instead of giving it a task of its own.
//!
//! hyper hands each chunk of an answer from its connection to the body
//! through a channel that holds one chunk; with the connection in a task
//! of its own, each streamed token costs wake-ups across tasks (and often
//! threads). Driven by the task that reads the answer, the connection reads
//! the socket, decrypts and hands the chunk over within one poll. (The
//! enclave's plain upstream connections do the same:
//! `blindfold-engine-upstream`'s `connections.rs`.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Connection =
    hyper::client::conn::http1::Connection<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>, Full<Bytes>>;

/// An attested session's connection, while it is open. Requests on the
/// session make progress only while it is driven (or runs, [`Self::run`]).
pub struct SessionConnection(Option<Pin<Box<Connection>>>);

impl SessionConnection {
    pub(crate) fn new(connection: Connection) -> Self {
        SessionConnection(Some(Box::pin(connection)))
    }

    /// Runs `work` while driving the connection in the same task.
    pub async fn drive<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            self.poll_drive(cx);
            work.as_mut().poll(cx)
        })
        .await
    }

    /// Lets the connection do what it can now (read, decrypt, write); a
    /// connection that ended is let go. Whoever waits on the session's
    /// request or answer sees a close through hyper's channels.
    pub fn poll_drive(&mut self, cx: &mut Context<'_>) {
        if let Some(c) = self.0.as_mut() {
            if c.as_mut().poll(cx).is_ready() {
                self.0 = None;
            }
        }
    }

    /// Whether the connection has not ended.
    pub fn is_open(&self) -> bool {
        self.0.is_some()
    }

    /// Drives the connection until it ends (for a task of its own).
    pub async fn run(mut self) {
        std::future::poll_fn(|cx| {
            self.poll_drive(cx);
            if self.is_open() {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }
}

impl std::fmt::Debug for SessionConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConnection")
            .field("open", &self.is_open())
            .finish()
    }
}
