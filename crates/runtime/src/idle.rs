//! Keep-alive for attested sessions without giving slow clients more time.
//!
//! hyper's HTTP/1 server has one timer for this, the header-read timeout,
//! and it runs from the moment a connection waits for its next request: an
//! idle keep-alive session is closed exactly like a client that sends its
//! headers one byte a minute. A verifying proxy keeps its attested sessions
//! between bursts, so the enclave must tell the two apart. Each connection
//! gets a [`SessionTimer`] and a [`CountingIo`] that counts the bytes read:
//! while no byte of the next request has arrived the wait may last the idle
//! timeout; from the first byte on, the headers must be complete within the
//! header-read timeout hyper was given.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that counts the bytes read through it.
pub struct CountingIo<T> {
    inner: T,
    read: Arc<AtomicU64>,
}

impl<T> CountingIo<T> {
    /// Wraps `inner`; `read` counts its bytes.
    pub fn new(inner: T, read: Arc<AtomicU64>) -> Self {
        CountingIo { inner, read }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let got = buf.filled().len().saturating_sub(before);
        if got > 0 {
            this.read.fetch_add(got as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// hyper's timer for one connection (see the module docs).
#[derive(Clone)]
pub struct SessionTimer {
    read: Arc<AtomicU64>,
    idle: Duration,
}

impl SessionTimer {
    /// A timer for the connection whose reads `read` counts.
    pub fn new(read: Arc<AtomicU64>, idle: Duration) -> Self {
        SessionTimer { read, idle }
    }
}

impl hyper::rt::Timer for SessionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = Instant::now();
        Box::pin(HeaderSleep {
            read: self.read.clone(),
            read_at_start: self.read.load(Ordering::Relaxed),
            header: deadline.saturating_duration_since(now),
            active: false,
            sleep: Box::pin(tokio::time::sleep_until(
                tokio::time::Instant::from_std(now) + self.idle.max(deadline.saturating_duration_since(now)),
            )),
        })
    }
}

/// Fires after the idle timeout while nothing was read, or the header
/// timeout after the first byte.
struct HeaderSleep {
    read: Arc<AtomicU64>,
    read_at_start: u64,
    header: Duration,
    active: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeaderSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.active && this.read.load(Ordering::Relaxed) != this.read_at_start {
            // The next request has begun: its headers get the header timeout.
            this.active = true;
            let deadline = tokio::time::Instant::now() + this.header;
            this.sleep.as_mut().reset(deadline);
        }
        this.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeaderSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn ready(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
        let waker = std::task::Waker::from(Arc::new(Noop));
        sleep.as_mut().poll(&mut Context::from_waker(&waker)).is_ready()
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_session_waits_the_idle_timeout() {
        let read = Arc::new(AtomicU64::new(0));
        let timer = SessionTimer::new(read.clone(), Duration::from_secs(300));
        let mut sleep = timer.sleep(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!ready(&mut sleep), "closed at the header timeout while idle");
        tokio::time::advance(Duration::from_secs(290)).await;
        assert!(ready(&mut sleep), "still open after the idle timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_began_gets_the_header_timeout() {
        let read = Arc::new(AtomicU64::new(0));
        let timer = SessionTimer::new(read.clone(), Duration::from_secs(300));
        let mut sleep = timer.sleep(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(60)).await;
        read.fetch_add(5, Ordering::Relaxed); // "GET /"
        assert!(!ready(&mut sleep));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(!ready(&mut sleep));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            ready(&mut sleep),
            "a slow client kept its slot past the header timeout"
        );
    }
}
