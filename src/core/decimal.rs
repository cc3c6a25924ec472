//! Numbers in decimal without the formatting machinery, for the paths that write several per
//! operation (op-log records, S3 request heads, PUT keys).

/// `v` in decimal, at least `width` digits (zero-padded).
pub struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    pub fn new(v: u64, width: usize) -> Decimal {
        let mut buf = [b'0'; 20];
        let (mut i, mut v) = (buf.len(), v);
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        Decimal { buf, start: i.min(buf.len() - width.min(buf.len())) }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn digits_and_padding() {
        for (v, w, want) in [(0, 0, "0"), (7, 3, "007"), (1234, 2, "1234"), (u64::MAX, 0, "18446744073709551615")] {
            assert_eq!(Decimal::new(v, w).as_str(), want);
        }
        assert_eq!(Decimal::new(5, 40).as_str().len(), 20, "width beyond 20 digits is capped");
    }
}
