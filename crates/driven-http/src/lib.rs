//! An HTTP/1.1 client connection driven by the task that uses it, and what
//! a kept connection's failure means.
//!
//! What it is for: hyper's HTTP/1.1 client hands each chunk of an answer
//! from its connection to the body through a channel that holds one
//! chunk. With the connection in a task of its own, each chunk of a
//! streamed answer (one token, as inference servers send them) costs
//! wake-ups across tasks and often threads. [`Driven`] holds the
//! connection as a value that whoever sends on it or reads its answer
//! polls in its own task ([`Driven::drive`], [`Driven::poll_drive`]), so a
//! chunk goes from the socket to the reader within one poll. A connection
//! kept between requests is checked with [`ready_within`] when taken, and
//! a request that failed on it because the server closed it unanswered is
//! recognised by [`closed_unanswered`]. The enclave's upstream connections
//! (`blindfold-engine-upstream`) and the attested sessions of the client
//! SDK and proxy (`blindfold-atls`, `blindfold-client`) are both built on
//! it.
//!
//! What it is not: a connection pool (each user keeps its own idle set, by
//! its own rules) or an HTTP client (hyper is).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A connection (hyper's `Connection` future) while it is open, driven by
/// whoever uses it: requests on it make progress only while it is driven,
/// or while it runs ([`Driven::run`]).
pub struct Driven<C>(Option<Pin<Box<C>>>);

impl<C: Future> Driven<C> {
    /// `connection`, to be driven.
    pub fn new(connection: C) -> Self {
        Driven(Some(Box::pin(connection)))
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

    /// Lets the connection do what it can now (read, write); one that
    /// ended is let go. Whoever waits on its request or answer sees the
    /// close through hyper's channels.
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

impl<C> std::fmt::Debug for Driven<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driven").field("open", &self.0.is_some()).finish()
    }
}

/// Whether a kept connection takes a request within `wait`: driving it
/// reads a close the server sent while it was idle (then its sender is
/// closed and not ready).
pub async fn ready_within<B, C: Future>(
    sender: &mut hyper::client::conn::http1::SendRequest<B>,
    connection: &mut Driven<C>,
    wait: Duration,
) -> bool {
    let ready = connection.drive(tokio::time::timeout(wait, sender.ready())).await;
    matches!(ready, Ok(Ok(()))) && connection.is_open()
}

/// Whether a request failed because its connection closed before an
/// answer came: before the request was written, or before the answer's
/// head was read (a close or a reset). On a kept connection this is a
/// server closing it as the request went out; the request may go once
/// more on another connection.
pub fn closed_unanswered(e: &hyper::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    if e.is_canceled() || e.is_closed() || e.is_incomplete_message() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), ConnectionReset | BrokenPipe | ConnectionAborted);
        }
        source = cause.source();
    }
    false
}
