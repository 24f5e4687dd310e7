//! An answer's body that drives its attested session's connection while it
//! is read, and hands the session back to the client's pool once the
//! answer has been read to its end.
//!
//! With the connection in a task of its own, every streamed chunk crossed
//! from that task to the reader's through hyper's one-chunk channel: two
//! wake-ups per token, often across threads. Here the reader's own poll
//! reads the socket, decrypts and takes the chunk.
//!
//! A body dropped before its end (the reader stopped at `[DONE]`, or went
//! away) is read on for at most [`END_WAIT`] in a task of its own: an end
//! already on its way keeps the session; anything longer (a generation
//! still running) closes it, which tells the enclave to stop.

use std::pin::Pin;
use std::sync::{Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use blindfold_atls::{AttestedSession, SessionConnection};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::report::Report;

/// Longest a dropped body is read on for its end.
pub(crate) const END_WAIT: Duration = Duration::from_millis(100);

/// An attested session with its connection and report, kept together so
/// the report shown is always the one of the session in use.
pub(crate) struct Pooled {
    pub(crate) session: AttestedSession,
    pub(crate) connection: SessionConnection,
    /// Shared, not copied, with the client's last report.
    pub(crate) report: std::sync::Arc<Report>,
}

/// The idle sessions of one client.
pub(crate) type Pool = Mutex<Vec<Pooled>>;

/// A session out of the pool, and where it goes back.
pub(crate) struct Lease {
    pub(crate) pooled: Pooled,
    pub(crate) pool: Weak<Pool>,
}

impl Lease {
    /// Back to the pool, if the session is still open and the pool (and
    /// the client) still there.
    fn give_back(self) {
        let Some(pool) = self.pool.upgrade() else { return };
        let mut idle = pool.lock().unwrap_or_else(|p| p.into_inner());
        let open = self.pooled.connection.is_open() && !self.pooled.session.sender.is_closed();
        if open && idle.len() < crate::MAX_IDLE_SESSIONS {
            idle.push(self.pooled);
        }
    }
}

/// The body of an answer on an attested session; see the module docs.
pub struct SessionBody {
    body: Option<Incoming>,
    lease: Option<Lease>,
}

impl SessionBody {
    pub(crate) fn new(body: Incoming, lease: Lease) -> Self {
        SessionBody {
            body: Some(body),
            lease: Some(lease),
        }
    }
}

impl Body for SessionBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(lease) = this.lease.as_mut() {
            lease.pooled.connection.poll_drive(cx);
        }
        let polled = Pin::new(&mut *body).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
            Poll::Ready(Some(Err(_))) => {
                // A broken answer: the session is not used again.
                this.lease = None;
                false
            }
            Poll::Pending => false,
        };
        if ended {
            if let Some(lease) = this.lease.take() {
                lease.give_back();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().map_or(true, |b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map(|b| b.size_hint()).unwrap_or_default()
    }
}

impl Drop for SessionBody {
    fn drop(&mut self) {
        let (Some(mut body), Some(mut lease)) = (self.body.take(), self.lease.take()) else {
            return;
        };
        if body.is_end_stream() {
            lease.give_back();
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let rest = async {
                while let Some(frame) = body.frame().await {
                    if frame.is_err() {
                        return false;
                    }
                }
                true
            };
            let read = tokio::time::timeout(END_WAIT, lease.pooled.connection.drive(rest)).await;
            if let Ok(true) = read {
                lease.give_back();
            }
        });
    }
}
