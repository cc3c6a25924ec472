//! The stores of one run (or one agent): the multi-endpoint set or the target, the target when
//! some ops opt out of the endpoints, and any other absolute URI the config names. Also maps a
//! config path to (store, key relative to that store).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::core::config::{EndpointConfig, Plan, Strategy};
use crate::core::store::{Store, StoreError};
use crate::core::workload::split_absolute;

use super::outcome::EndpointInfo;
use super::placement::Placement;
use super::run::{RunError, RunRole};

/// Every store a run uses, opened once.
pub struct Stores {
    /// The endpoints when a multi_endpoint block is in effect, else the target.
    pub main: Option<Arc<Store>>,
    /// The target, when endpoints are `main` and a target is configured too.
    pub target: Option<Arc<Store>>,
    /// Stores for other absolute URIs, by base URI.
    pub extra: BTreeMap<String, Arc<Store>>,
    /// Endpoint table for the endpoint stats files (empty: no endpoints in use).
    pub table: Vec<EndpointInfo>,
    /// Strategy of the endpoint set, when endpoints are in use.
    pub strategy: Option<Strategy>,
    /// Base URIs as configured (before the per-agent suffix), to recognise absolute paths.
    main_bases: Vec<String>,
    target_base: Option<String>,
    suffix: String,
}

impl Stores {
    /// Whether requests should be recorded per endpoint.
    pub fn endpoints_in_use(&self) -> bool {
        !self.table.is_empty()
    }

    /// The endpoint table's URIs without credentials, by endpoint index.
    pub fn redacted_uris(&self) -> Vec<String> {
        self.table.iter().map(|e| crate::core::store::redact_uri(&e.uri)).collect()
    }

    /// Requests in flight right now, by endpoint index of the endpoint table.
    pub fn in_flight(&self) -> Vec<u64> {
        let mut v = vec![0u64; self.table.len()];
        for store in self.all() {
            for ep in &store.endpoints {
                if let Some(slot) = v.get_mut(ep.idx) {
                    *slot += ep.in_flight.load(std::sync::atomic::Ordering::Relaxed) as u64;
                }
            }
        }
        v
    }

    /// Every store, for preflight checks and cleanup.
    pub fn all(&self) -> Vec<&Arc<Store>> {
        self.main.iter().chain(self.target.iter()).chain(self.extra.values()).collect()
    }

    /// Where workers run: what every backend allows.
    pub fn placement(&self) -> Placement {
        Placement::of(self.all().iter().flat_map(|s| s.endpoints.iter().map(|e| &*e.backend)))
    }

    /// The store and relative key for a config path or base URI.
    /// `use_multi_endpoint == false` selects the target. Errors name what is missing.
    pub fn resolve(&self, path: &str, use_multi_endpoint: bool) -> Result<(Arc<Store>, String), String> {
        if let Some((base, rel)) = split_absolute(path) {
            if let Some(rest) = strip_any(path, &self.main_bases) {
                if let Some(m) = &self.main {
                    if use_multi_endpoint || self.target.is_none() {
                        return Ok((m.clone(), rest.to_string()));
                    }
                }
            }
            if let Some(t) = &self.target_base {
                if let Some(rest) = path.strip_prefix(t.as_str()) {
                    let store = self.target.as_ref().or(self.main.as_ref()).cloned();
                    if let Some(s) = store {
                        return Ok((s, rest.to_string()));
                    }
                }
            }
            let key = format!("{base}{}", self.suffix);
            return self
                .extra
                .get(&key)
                .map(|s| (s.clone(), rel))
                .ok_or_else(|| format!("no store opened for `{base}`"));
        }
        let store = if use_multi_endpoint { self.main.as_ref() } else { self.target.as_ref().or(self.main.as_ref()) };
        store.cloned().map(|s| (s, path.to_string())).ok_or_else(|| {
            format!("`{path}` is relative, but there is no `target` or `multi_endpoint` to resolve it against")
        })
    }
}

fn strip_any<'a>(path: &'a str, bases: &[String]) -> Option<&'a str> {
    bases.iter().find_map(|b| path.strip_prefix(b.as_str()))
}

fn with_suffix(uri: &str, suffix: &str) -> String {
    format!("{uri}{suffix}")
}

/// Every absolute URI the plan names outside the target and the endpoints.
fn absolute_roots(plan: &Plan, known: &[String]) -> Vec<String> {
    let paths = plan.all_paths();
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        if let Some((base, _)) = split_absolute(p) {
            if !known.iter().any(|k| p.starts_with(k.as_str())) && !out.contains(&base) {
                out.push(base);
            }
        }
    }
    out
}

/// Open every store the plan needs, for the given role. Touches no data: builds clients only.
pub async fn open_stores(plan: &Plan, role: &RunRole) -> Result<Stores, RunError> {
    let opts = &plan.storage;
    let suffix = role.root_suffix.clone().unwrap_or_default();
    let endpoints: Option<&EndpointConfig> = plan.effective_endpoints(role.agent_index);
    let mut table = Vec::new();
    let open = |uris: Vec<String>, strategy: Strategy, first: usize| async move {
        Store::open(&uris, strategy, opts, first).await.map_err(|e| storage_err(&uris, e))
    };
    let mut main_bases = Vec::new();
    let (main, target) = match endpoints {
        Some(ep) => {
            main_bases = ep.endpoints.clone();
            let uris: Vec<String> = ep.endpoints.iter().map(|u| with_suffix(u, &suffix)).collect();
            let store = open(uris.clone(), ep.strategy, 0).await?;
            table.extend(uris.iter().enumerate().map(|(idx, uri)| EndpointInfo { idx, uri: uri.clone() }));
            let target = match &plan.target {
                Some(t) => {
                    let uri = with_suffix(t, &suffix);
                    let s = open(vec![uri.clone()], Strategy::RoundRobin, table.len()).await?;
                    table.push(EndpointInfo { idx: table.len(), uri });
                    Some(Arc::new(s))
                }
                None => None,
            };
            (Some(Arc::new(store)), target)
        }
        None => match &plan.target {
            Some(t) => (Some(Arc::new(open(vec![with_suffix(t, &suffix)], Strategy::RoundRobin, 0).await?)), None),
            None => (None, None),
        },
    };
    let mut known = main_bases.clone();
    known.extend(plan.target.iter().cloned());
    let mut extra = BTreeMap::new();
    for base in absolute_roots(plan, &known) {
        let uri = with_suffix(&base, &suffix);
        let first = if table.is_empty() { 0 } else { table.len() };
        let s = open(vec![uri.clone()], Strategy::RoundRobin, first).await?;
        if !table.is_empty() {
            table.push(EndpointInfo { idx: first, uri: uri.clone() });
        }
        extra.insert(uri, Arc::new(s));
    }
    Ok(Stores {
        main,
        target,
        extra,
        strategy: endpoints.map(|e| e.strategy),
        table,
        main_bases,
        target_base: plan.target.clone(),
        suffix,
    })
}

fn storage_err(uris: &[String], e: StoreError) -> RunError {
    RunError::Storage { uri: uris.join(", "), source: e }
}
