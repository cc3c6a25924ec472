//! What the controller knows of one agent: its connection, clock, endpoints, and its record of
//! every stage as the agent reported it.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use super::super::codec;
use super::super::fleet::AgentConn;
use super::super::pb;
use crate::core::config::Plan;
use crate::core::exec::{PhaseResult, StageOutcome, StageReport, StageTag};

pub(super) struct Member {
    pub id: String,
    pub address: String,
    pub conn: Option<AgentConn>,
    pub tx: Option<mpsc::UnboundedSender<pb::ControlMsg>>,
    /// Clock offset agent − controller and round-trip time, ns.
    pub offset_ns: i64,
    pub rtt_ns: i64,
    /// Agent endpoint index → run table index.
    pub map: Vec<usize>,
    pub ready: Option<pb::Ready>,
    /// The last stage the agent is set up for (StageReady), and the last it ended.
    pub ready_upto: Option<usize>,
    pub ended_upto: Option<usize>,
    /// One record per stage of the plan (filled as StageEnd messages arrive).
    pub stages: Vec<StageReport>,
    /// Phase totals as the agent sent them, until its StageEnd collects them.
    pub phases: BTreeMap<StageTag, PhaseResult>,
    pub fin: Option<pb::Final>,
    pub lost: Option<String>,
    /// Dropped at a `majority` / `best_effort` barrier: why. Takes no further part.
    pub dropped: Option<String>,
}

impl Member {
    pub fn new(id: &str, address: &str, plan: &Plan) -> Self {
        let mut stages: Vec<StageReport> =
            plan.stages.iter().enumerate().map(|(i, s)| StageReport::new(i, s)).collect();
        for s in &mut stages {
            s.outcome = StageOutcome::Skipped("did not run".into());
        }
        Member {
            id: id.to_string(),
            address: address.to_string(),
            conn: None,
            tx: None,
            offset_ns: 0,
            rtt_ns: 0,
            map: Vec::new(),
            ready: None,
            ready_upto: None,
            ended_upto: None,
            stages,
            phases: BTreeMap::new(),
            fin: None,
            lost: None,
            dropped: None,
        }
    }

    /// Its run is over (it sent Final, or it was lost).
    pub fn done(&self) -> bool {
        self.fin.is_some() || self.lost.is_some()
    }

    /// Still part of the run.
    pub fn active(&self) -> bool {
        !self.done() && self.dropped.is_none()
    }

    /// Ended its run without a failure.
    pub fn completed(&self) -> bool {
        self.fin.as_ref().is_some_and(|f| f.failure.is_empty())
    }

    /// Set up for stage `i` (and its setup did not fail).
    pub fn ready_for(&self, i: usize) -> bool {
        self.ready_upto.is_some_and(|r| r >= i) && self.ended_upto.is_none_or(|e| e < i)
    }

    /// Has reported the end of stage `i`.
    pub fn ended(&self, i: usize) -> bool {
        self.ended_upto.is_some_and(|e| e >= i)
    }

    pub fn send(&self, c: pb::control_msg::Ctl) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(pb::ControlMsg { ctl: Some(c) });
        }
    }

    /// A message that does not decode: the agent is treated as lost.
    pub fn bad(&mut self, why: String) {
        if self.lost.is_none() {
            self.lost = Some(why);
        }
    }

    pub fn phase_end(&mut self, r: PhaseResult) {
        self.phases.insert(r.stage.clone(), r);
    }

    /// The agent's StageEnd: its record of the stage, with the totals it sent before. Returns a
    /// console line worth printing (what prepare found and made, a failure).
    pub fn stage_end(&mut self, e: &pb::StageEnd, plan: &Plan, starts: &[i64]) -> Option<String> {
        let i = e.index as usize;
        let Some(rec) = self.stages.get_mut(i) else {
            self.bad(format!("reported stage {i}, but the config has {} stages", plan.stages.len()));
            return None;
        };
        let mut st = StageReport::new(i, &plan.stages[i]);
        if let Err(err) = codec::stage_end_from_wire(e, self.offset_ns, &mut st) {
            self.bad(err.to_string());
            return None;
        }
        let tag = StageTag::new(i, &st.name);
        st.result = self.phases.remove(&tag);
        st.warmup = self.phases.remove(&tag.warmup());
        if let (Some(&start), true) = (starts.get(i), e.started_unix_ns > 0) {
            if start > 0 {
                st.start_skew_ms = Some((e.started_unix_ns - self.offset_ns - start) as f64 / 1e6);
            }
        }
        *rec = st;
        self.ended_upto = Some(i);
        let rec = &self.stages[i];
        match &rec.outcome {
            StageOutcome::Failed(w) => Some(format!("⚠ {}: stage `{}` failed: {w}", self.id, rec.name)),
            _ if rec.kind == "prepare" => {
                Some(format!("✓ {} prepared: {} objects present, {} created", self.id, rec.existing, rec.created))
            }
            _ => None,
        }
    }
}
