//! A driven generation delivers what its driver sends, in order, ends when
//! the driver ends, and never wakes its reader for an event its own poll
//! produced (tokio would reschedule that as a yield and wake another
//! worker thread for every token).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use blindfold_engine::{Generation, GenerationEvent};
use tokio::sync::mpsc;

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn text(t: &str) -> GenerationEvent {
    GenerationEvent::Text(t.into())
}

#[test]
fn a_driven_generation_reads_what_its_driver_sends_without_waking_itself() {
    let (events, receiver) = mpsc::unbounded_channel();
    // Step 1 waits (nothing sent), step 2 sends two events, step 3 ends.
    let mut step = 0;
    let driver = std::future::poll_fn(move |_| {
        step += 1;
        match step {
            1 => Poll::Pending,
            2 => {
                events.send(text("a")).unwrap();
                events.send(text("b")).unwrap();
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    });
    let mut generation = Generation::driven(None, receiver, driver);
    let woken = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);

    assert_eq!(generation.poll_recv(&mut cx), Poll::Pending);
    assert_eq!(generation.poll_recv(&mut cx), Poll::Ready(Some(text("a"))));
    assert_eq!(woken.0.load(Ordering::SeqCst), 0, "the reader woke itself");
    // Already sent: read before the driver is polled again.
    assert_eq!(generation.poll_recv(&mut cx), Poll::Ready(Some(text("b"))));
    assert_eq!(generation.poll_recv(&mut cx), Poll::Ready(None));
}

#[test]
fn events_sent_before_the_driver_ends_are_all_read() {
    let (events, receiver) = mpsc::unbounded_channel();
    let driver = async move {
        for t in ["a", "b", "c"] {
            events.send(text(t)).unwrap();
        }
    };
    let mut generation = Generation::driven(Some(2), receiver, driver);
    let waker = Waker::from(Arc::new(CountingWaker(AtomicUsize::new(0))));
    let mut cx = Context::from_waker(&waker);
    let mut read = Vec::new();
    while let Poll::Ready(Some(event)) = generation.poll_recv(&mut cx) {
        read.push(event);
    }
    assert_eq!(read, [text("a"), text("b"), text("c")]);
    assert_eq!(generation.poll_recv(&mut cx), Poll::Ready(None));
}
