//! A flag that reads whether a [`CancellationToken`] was cancelled without a lock: the token's
//! own `is_cancelled` takes a mutex shared by every clone of it, which every worker would touch
//! on every operation. The flag is set by whoever cancels the token (or its parent), inside that
//! `cancel()` call, before it returns: no task has to be scheduled for it.
//! Must not be used to wait: `CancellationToken::cancelled()` is for requests that are pending.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use parking_lot::Mutex;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Set once the watched token is cancelled. How: the token's `cancelled()` future is polled
/// once with a waker of its own; cancelling the token wakes every waiter synchronously, in the
/// cancelling call, after the token's lock is released. The wake polls the future again, which
/// is then ready, and sets the flag (a wake without cancellation just registers again).
pub struct StopFlag {
    inner: Arc<Inner>,
}

struct Inner {
    set: AtomicBool,
    /// The token's `cancelled()` future, until it completed (or the flag is dropped).
    wait: Mutex<Option<Pin<Box<WaitForCancellationFutureOwned>>>>,
}

impl Inner {
    fn poll(self: &Arc<Self>) {
        let waker = Waker::from(Arc::clone(self));
        let mut slot = self.wait.lock();
        let Some(fut) = slot.as_mut() else { return };
        if fut.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
            // The future holds the waker, which holds this: dropping it ends that cycle.
            *slot = None;
            self.set.store(true, Ordering::Release);
        }
    }
}

impl Wake for Inner {
    fn wake(self: Arc<Self>) {
        self.poll();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.poll();
    }
}

impl StopFlag {
    /// Watch `token` (set at once if it is cancelled already).
    pub fn watch(token: &CancellationToken) -> Self {
        let inner = Arc::new(Inner {
            set: AtomicBool::new(false),
            wait: Mutex::new(Some(Box::pin(token.clone().cancelled_owned()))),
        });
        inner.poll();
        StopFlag { inner }
    }

    /// Whether the token was cancelled. No lock: one atomic load.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.inner.set.load(Ordering::Acquire)
    }
}

impl Drop for StopFlag {
    fn drop(&mut self) {
        // Unregisters the waker from the token, so nothing outlives the flag.
        let fut = self.inner.wait.lock().take();
        drop(fut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;

    /// Set by the cancelling call itself, on the cancelling thread, with no runtime at all.
    #[test]
    fn set_by_the_cancel_call_itself() {
        let token = CancellationToken::new();
        let flag = StopFlag::watch(&token);
        assert!(!flag.is_set());
        token.cancel();
        assert!(flag.is_set());
    }

    /// A child token's flag is set when its parent is cancelled (the workload's hard stop is a
    /// child of the phase's stop token), from another thread.
    #[test]
    fn set_when_the_parent_is_cancelled_elsewhere() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        let flag = StopFlag::watch(&child);
        let other = parent.clone();
        std::thread::spawn(move || other.cancel()).join().unwrap();
        assert!(flag.is_set());
        // Cancelling a sibling or cancelling twice changes nothing.
        parent.cancel();
        assert!(flag.is_set());
    }

    #[test]
    fn an_already_cancelled_token_sets_it_at_once() {
        let token = CancellationToken::new();
        token.cancel();
        assert!(StopFlag::watch(&token).is_set());
    }

    /// Neither a token never cancelled nor one cancelled keeps the flag's state alive.
    #[test]
    fn nothing_is_left_behind() {
        for cancel in [false, true] {
            let token = CancellationToken::new();
            let flag = StopFlag::watch(&token);
            let weak: Weak<Inner> = Arc::downgrade(&flag.inner);
            if cancel {
                token.cancel();
            }
            drop(flag);
            assert!(weak.upgrade().is_none(), "cancelled: {cancel}");
            token.cancel();
        }
    }

    /// A sibling token's cancellation leaves it unset.
    #[test]
    fn only_its_own_token_counts() {
        let parent = CancellationToken::new();
        let (a, b) = (parent.child_token(), parent.child_token());
        let flag = StopFlag::watch(&a);
        b.cancel();
        assert!(!flag.is_set());
        a.cancel();
        assert!(flag.is_set());
    }
}
