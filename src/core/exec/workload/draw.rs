//! A worker's choice of its next operation: the op of the mix, the object or name it works on,
//! a PUT's body (drawn on the worker's thread, waiting only for `from: written` objects), and
//! what a successful PUT, MKDIR or DELETE changes in the pools of later draws and stages.

use super::*;

/// What one operation works on, chosen by a worker.
pub(super) struct Pick<'a> {
    pub(super) op: usize,
    /// Borrowed from the job's pools where it can be: no shared counter touched per request.
    pub(super) key: Cow<'a, Arc<str>>,
    pub(super) body: Option<bytes::Bytes>,
    pub(super) range: Option<(u64, u64)>,
    /// The object's size as listed or written (0 when not known).
    pub(super) size: u64,
    /// Set for objects drawn from a `from: written` pool.
    pub(super) written: Option<Written>,
    /// The counter a counter-named PUT's name was made from.
    pub(super) seq: Option<u64>,
}

impl Pick<'_> {
    /// The size to read a whole object with (see `read_object`); none when not known.
    pub(super) fn listed(&self) -> Option<u64> {
        (self.size > 0).then_some(self.size)
    }
}

/// What one draw of the next operation gave (see `WorkloadJob::draw`).
pub(super) enum Drawn<'a> {
    Pick(Pick<'a>),
    /// The listed pool of this op (a DELETE's) ran dry.
    Dry(usize),
    /// Only `from: written` ops whose pools are still empty were drawn: wait for the PUTs.
    Wait,
}

impl WorkloadJob {
    /// The next operation after a draw gave `Wait` (see [`Self::draw`]): wait a moment for the
    /// PUTs (or the end of the stage), draw again, until a draw gives an operation.
    /// `Err(Some(op))`: a listed pool of a DELETE ran dry; `Err(None)`: the stage ended first.
    pub(super) async fn pick_after_wait(
        &self,
        w: usize,
        rng: &mut SmallRng,
        put_counters: &mut [u64],
        spare: &mut Option<bytes::BytesMut>,
        clock: &Clock,
    ) -> Result<Pick<'_>, Option<usize>> {
        loop {
            tokio::select! {
                biased;
                _ = clock.hard.cancelled() => return Err(None),
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
            if Instant::now() >= clock.deadline {
                return Err(None);
            }
            match self.draw(w, rng, put_counters, spare) {
                Drawn::Pick(p) => return Ok(p),
                Drawn::Dry(i) => return Err(Some(i)),
                Drawn::Wait => {}
            }
        }
    }

    /// Choose the next operation and what it works on, on the calling thread. A `from: written`
    /// op whose pool is still empty gives way to another op of the mix (a few draws), or the
    /// draw gives `Wait` (a dedicated worker, or a mix of only such ops): the worker then waits
    /// for the PUTs ([`Self::pick_after_wait`]).
    pub(super) fn draw(
        &self,
        w: usize,
        rng: &mut SmallRng,
        put_counters: &mut [u64],
        spare: &mut Option<bytes::BytesMut>,
    ) -> Drawn<'_> {
        let mut draws = 0;
        loop {
            let i = match w.checked_sub(self.mix_workers) {
                Some(k) => self.dedicated.get(k).copied().unwrap_or(0),
                None => self.mix.pick(rng),
            };
            let op = &self.ops[i];
            let mut pick = Pick {
                op: i,
                key: Cow::Borrowed(&self.no_key),
                body: None,
                range: None,
                size: 0,
                written: None,
                seq: None,
            };
            // PUT and MKDIR into a pattern: the directory the new name goes into.
            let drawn = |parents: &Option<Arc<KeyPool>>, rng: &mut SmallRng| {
                parents.as_ref().map(|p| p.pick(rng).map_or_else(|| Arc::clone(&self.no_key), |(k, _)| k))
            };
            match &op.target {
                Target::Pool(pool) => {
                    let picked = if op.takes_out() {
                        pool.take(rng).map(|(k, n)| (Cow::Owned(k), n))
                    } else {
                        pool.pick_ref(rng)
                    };
                    let Some((k, size)) = picked else { return Drawn::Dry(i) };
                    pick.range = op.range.as_ref().and_then(|r| range_for(r, size, rng));
                    pick.key = k;
                    pick.size = size;
                }
                Target::Written(pool) => {
                    let picked = if op.takes_out() { pool.take(rng) } else { pool.pick(rng) };
                    let Some(wr) = picked else {
                        draws += 1;
                        if w >= self.mix_workers || draws > 8 {
                            return Drawn::Wait;
                        }
                        continue;
                    };
                    pick.range = op.range.as_ref().and_then(|r| range_for(r, wr.size, rng));
                    pick.size = wr.size;
                    pick.key = Cow::Owned(wr.key.clone());
                    pick.written = Some(wr);
                }
                Target::List(prefix) => pick.key = Cow::Borrowed(prefix),
                Target::Mkdir { parent, parents, .. } => {
                    let dir = drawn(parents, rng);
                    let parent = dir.as_deref().unwrap_or(parent);
                    pick.key =
                        Cow::Owned(Arc::from(unique_dir_key(parent, &self.run_id, self.agent, w, put_counters[i])));
                    put_counters[i] += 1;
                }
                Target::Put { template, parents, size, shards, src, .. } => {
                    let dir = drawn(parents, rng);
                    let template = dir.as_deref().unwrap_or(template);
                    let key = sharded(unique_put_key(template, &self.run_id, self.agent, w, put_counters[i]), *shards);
                    pick.seq = parents.is_none().then_some(put_counters[i]);
                    put_counters[i] += 1;
                    let n = sample_size(size, rng);
                    pick.body = Some(src.data.object_in(&key, n, spare));
                    pick.key = Cow::Owned(Arc::from(key));
                }
            }
            return Drawn::Pick(pick);
        }
    }

    /// After a successful PUT (MKDIR), the object (directory) joins the `from: written` pools
    /// that take it; after a DELETE (RMDIR) of a written one, later stages no longer see it.
    pub(super) fn note_written(&self, op: &ResolvedOp, pick: &Pick<'_>, w: usize, made: &mut Made) {
        let (src, feeds, dir) = match (&op.target, &pick.written) {
            (Target::Put { src, feeds, parents, .. }, _) => {
                if parents.is_some() {
                    // Not derivable from the counters: the directory was drawn at random.
                    made.files.push((src.store.clone(), pick.key.to_string()));
                }
                (src, feeds, false)
            }
            (Target::Mkdir { src, feeds, .. }, _) => {
                made.dirs.push((src.store.clone(), pick.key.to_string()));
                (src, feeds, true)
            }
            (_, Some(wr)) if matches!(op.kind, OpKind::Delete | OpKind::Rmdir) => {
                // Objects of earlier stages: their cleanup finds them gone (not an error).
                if let Some((_, op, worker, n)) = wr.origin.filter(|o| o.0 == self.id) {
                    // Cleanup skips it (a bit per counter of the run that wrote it).
                    let mut gone = self.gone.lock();
                    let bits = gone.entry((op, worker)).or_default();
                    let word = (n / 64) as usize;
                    if bits.len() <= word {
                        bits.resize(word + 1, 0);
                    }
                    bits[word] |= 1 << (n % 64);
                }
                if self.keep_written {
                    made.removed.push(wr.clone());
                }
                return;
            }
            _ => return,
        };
        if feeds.is_empty() && !self.keep_written {
            return;
        }
        let size = pick.body.as_ref().map_or(0, |b| b.len() as u64);
        let origin = pick.seq.map(|n| (self.id, pick.op as u32, w as u32, n));
        let wr = Written { key: Arc::clone(&pick.key), size, src: src.clone(), dir, origin };
        feeds.iter().for_each(|p| p.offer(&wr));
        if self.keep_written {
            made.added.push(wr);
        }
    }
}
