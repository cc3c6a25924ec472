//! `size_spec` in every form the seeds and the docs use: a plain size, `{fixed}`, `{uniform}`,
//! `{lognormal}` and the explicit `{type: …}` forms.

use super::*;

impl Ctx<'_> {
    /// A size distribution in any of its forms.
    pub(super) fn size_spec(&mut self, v: &Value, path: &str) -> Option<SizeSpec> {
        let forms = "write a size (`1MB`), `{fixed: 1MB}`, `{uniform: {min: 1KB, max: 64KB}}`, \
                     `{type: uniform, min, max}` or `{type: lognormal, mean, std_dev, min, max}`";
        match v {
            Value::Number(_) | Value::String(_) => self.size(Some(v), path).map(SizeSpec::Fixed),
            Value::Mapping(m) => {
                if m.get("type").is_some() {
                    let o = self.obj(v, path, &["type", "size", "min", "max", "mean", "std_dev"], "a size_spec")?;
                    let t =
                        self.choice(o.get("type"), &o.at("type"), &[("fixed", 0u8), ("uniform", 1), ("lognormal", 2)])?;
                    return match t {
                        0 => self.fixed_size(&o, "size"),
                        1 => self.uniform(&o),
                        _ => self.lognormal(&o),
                    };
                }
                let keys: Vec<&str> = m.keys().filter_map(|k| k.as_str()).collect();
                match keys.as_slice() {
                    ["fixed"] => self.size(m.get("fixed"), &join(path, "fixed")).map(SizeSpec::Fixed),
                    ["uniform"] => {
                        let p = join(path, "uniform");
                        let o = self.obj(&m["uniform"], &p, &["min", "max"], "`{min, max}`")?;
                        self.uniform(&o)
                    }
                    ["lognormal"] => {
                        let p = join(path, "lognormal");
                        let o = self.obj(
                            &m["lognormal"],
                            &p,
                            &["mean", "std_dev", "min", "max"],
                            "`{mean, std_dev, min, max}`",
                        )?;
                        self.lognormal(&o)
                    }
                    _ => {
                        let unknown: Vec<&str> =
                            keys.iter().copied().filter(|k| !["fixed", "uniform", "lognormal"].contains(k)).collect();
                        match unknown.first() {
                            Some(k) => self.err(
                                &join(path, k),
                                format!(
                                    "unknown size_spec form `{k}`{}",
                                    hint(k, &["fixed", "uniform", "lognormal", "type"], "forms")
                                ),
                            ),
                            None => self.err(path, format!("give exactly one distribution — {forms}")),
                        }
                        None
                    }
                }
            }
            Value::Null => {
                self.err(path, format!("is empty — {forms}"));
                None
            }
            other => {
                self.err(path, format!("expected a size or a distribution, got {} — {forms}", kind(other)));
                None
            }
        }
    }

    fn fixed_size(&mut self, o: &Obj, key: &str) -> Option<SizeSpec> {
        if !o.has(key) {
            self.err(&o.path, format!("`type: fixed` needs `{key}:`"));
            return None;
        }
        self.size(o.get(key), &o.at(key)).map(SizeSpec::Fixed)
    }

    fn uniform(&mut self, o: &Obj) -> Option<SizeSpec> {
        for k in ["min", "max"] {
            if !o.has(k) {
                self.err(&o.path, format!("a uniform distribution needs `{k}:`"));
            }
        }
        let min = self.size(o.get("min"), &o.at("min"));
        let max = self.size(o.get("max"), &o.at("max"));
        let (min, max) = (min?, max?);
        if min > max {
            self.err(&o.at("min"), format!("min ({}) is larger than max ({})", size_text(min), size_text(max)));
            return None;
        }
        Some(SizeSpec::Uniform { min, max })
    }

    fn lognormal(&mut self, o: &Obj) -> Option<SizeSpec> {
        for k in ["mean", "std_dev"] {
            if !o.has(k) {
                self.err(&o.path, format!("a lognormal distribution needs `{k}:`"));
            }
        }
        let mean = self.size(o.get("mean"), &o.at("mean"));
        let std_dev = self.size(o.get("std_dev"), &o.at("std_dev"));
        let min = if o.has("min") { self.size(o.get("min"), &o.at("min")) } else { Some(1) };
        let (mean, std_dev, min) = (mean?, std_dev?, min?);
        let max = if o.has("max") {
            self.size(o.get("max"), &o.at("max"))?
        } else {
            mean.saturating_add(std_dev.saturating_mul(10))
        };
        if mean == 0 {
            self.err(&o.at("mean"), "the mean must be larger than 0");
            return None;
        }
        if min > max {
            self.err(&o.at("min"), format!("min ({}) is larger than max ({})", size_text(min), size_text(max)));
            return None;
        }
        Some(SizeSpec::Lognormal { mean: mean as f64, std_dev: std_dev as f64, min, max })
    }
}
