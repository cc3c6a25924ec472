//! The fleet's barriers: wait until every agent taking part is set up for a stage (`Ready`) or
//! has finished it (`End`), at most the stage's barrier timeout after the first one arrived, then
//! apply the stage's policy to those that did not: `all` fails the run, `majority` drops them when
//! more than half arrived, `best_effort` always drops them. Every wait is recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::{recv_interrupt, Controller};
use crate::core::config::BarrierPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// Set up for the stage (StageReady, or StageEnd when the setup failed).
    Ready,
    /// Finished the stage (StageEnd).
    End,
}

impl Controller {
    fn arrived(&self, k: usize, i: usize, w: Wait) -> bool {
        let m = &self.members[k];
        match w {
            Wait::Ready => m.ready_upto.is_some_and(|r| r >= i) || m.ended(i),
            Wait::End => m.ended(i),
        }
    }

    /// Wait at stage `i`'s barrier. `Err` when the run cannot go on (the run is halted then).
    pub(super) async fn barrier(&mut self, i: usize, w: Wait) -> Result<(), ()> {
        let plan = self.plan.clone();
        let st = &plan.stages[i];
        let who: Vec<usize> = (0..self.members.len()).filter(|&k| self.members[k].active()).collect();
        let mut arrivals: BTreeMap<usize, Instant> = BTreeMap::new();
        let mut first: Option<Instant> = None;
        let mut timed_out = false;
        // Those neither arrived nor gone. An event changes only its own agent's state, so only
        // that agent is looked at again: the wait costs the same per message at any fleet size.
        let mut waiting: BTreeSet<usize> = who.iter().copied().collect();
        let mut recheck: Vec<usize> = who.clone();
        loop {
            for k in recheck.drain(..) {
                if !waiting.contains(&k) {
                    continue;
                }
                if self.arrived(k, i, w) {
                    let now = Instant::now();
                    arrivals.insert(k, now);
                    first.get_or_insert(now);
                    waiting.remove(&k);
                } else if self.members[k].done() {
                    waiting.remove(&k);
                }
            }
            if waiting.is_empty() || self.halted.is_some() {
                break;
            }
            let deadline = first.map(|t| t + st.barrier.timeout);
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some((k, ev)) => {
                        self.absorb(k, ev);
                        recheck.push(k);
                    }
                    None => break,
                },
                _ = sleep_until(deadline) => {
                    timed_out = true;
                    break;
                }
                _ = recv_interrupt(&mut self.interrupts) => self.interrupt(),
            }
        }
        let released = Instant::now();
        if w == Wait::End {
            for (&k, &t) in &arrivals {
                if let Some(rec) = self.members[k].stages.get_mut(i) {
                    rec.barrier_wait_ms = Some(released.duration_since(t).as_secs_f64() * 1e3);
                }
            }
        }
        if self.halted.is_some() {
            return Err(());
        }
        let missing: Vec<usize> = who.iter().copied().filter(|k| !arrivals.contains_key(k)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let what = if w == Wait::Ready { "get ready for" } else { "finish" };
        let secs = st.barrier.timeout.as_secs_f64();
        let describe = |c: &Controller, k: usize| -> String {
            let m = &c.members[k];
            match &m.lost {
                Some(l) => format!("{} (lost: {l})", m.id),
                None if timed_out => {
                    format!("{} (did not {what} stage `{}` within {secs}s of the first agent)", m.id, st.name)
                }
                None => format!("{} (ended its run early)", m.id),
            }
        };
        let names: Vec<String> = missing.iter().map(|&k| describe(self, k)).collect();
        let go_on = match st.barrier.policy {
            BarrierPolicy::All => false,
            BarrierPolicy::Majority => arrivals.len() * 2 > who.len(),
            BarrierPolicy::BestEffort => !arrivals.is_empty(),
        };
        if !go_on {
            let policy = st.barrier.policy.name();
            self.halt(format!(
                "barrier of stage `{}` (policy {policy}): {} of {} agents arrived; missing {}",
                st.name,
                arrivals.len(),
                who.len(),
                names.join(", ")
            ));
            return Err(());
        }
        for (&k, why) in missing.iter().zip(&names) {
            let reason =
                format!("dropped at the barrier of stage `{}` (policy {}): {why}", st.name, st.barrier.policy.name());
            self.line(&format!("⚠ {reason} — it takes no further part"));
            let m = &mut self.members[k];
            m.send(crate::net::pb::control_msg::Ctl::Abort(crate::net::pb::Abort { reason: reason.clone() }));
            m.dropped = Some(reason);
        }
        Ok(())
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
