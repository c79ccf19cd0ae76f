//! A per-request time limit that costs nothing per poll.
//!
//! `tokio::time::timeout` polls its `Sleep` after every poll of the inner
//! future, i.e. after every socket read of a stream (a timer-entry check
//! and a waker registration each time). The limit here registers the timer
//! once and polls it again only when it has fired or the task's waker
//! changed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Sleep;

/// The limit passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Run `fut` for at most `limit`.
pub fn within<F: Future>(limit: Duration, fut: F) -> Within<F> {
    Within {
        fut: Box::pin(fut),
        sleep: Box::pin(tokio::time::sleep(limit)),
        waker: None,
    }
}

/// The future returned by [`within`].
pub struct Within<F> {
    fut: Pin<Box<F>>,
    sleep: Pin<Box<Sleep>>,
    /// The waker the timer was last registered with.
    waker: Option<Waker>,
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(v) = this.fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let registered = this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if registered && !this.sleep.is_elapsed() {
            return Poll::Pending;
        }
        this.waker = Some(cx.waker().clone());
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_after_the_limit_and_not_before() {
        let never = std::future::pending::<()>();
        assert_eq!(within(Duration::from_millis(20), never).await, Err(Elapsed));
        let quick = tokio::time::sleep(Duration::from_millis(1));
        assert_eq!(within(Duration::from_secs(60), quick).await, Ok(()));
    }

    /// A future that is woken many times (like a stream) still times out.
    #[tokio::test]
    async fn fires_while_the_inner_future_keeps_waking() {
        let busy = async {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        assert_eq!(within(Duration::from_millis(30), busy).await, Err(Elapsed));
    }
}
