//! Object size buckets of results.tsv (the older tool's boundaries, kept for its users' scripts).

/// Number of size buckets.
pub const SIZE_BUCKET_COUNT: usize = 9;

/// (label, lowest size in bytes, inclusive) of each bucket, by bucket index.
pub const SIZE_BUCKETS: [(&str, u64); SIZE_BUCKET_COUNT] = [
    ("zero", 0),
    ("1B-8KiB", 1),
    ("8KiB-64KiB", 8 * 1024),
    ("64KiB-512KiB", 64 * 1024),
    ("512KiB-4MiB", 512 * 1024),
    ("4MiB-32MiB", 4 * 1024 * 1024),
    ("32MiB-256MiB", 32 * 1024 * 1024),
    ("256MiB-2GiB", 256 * 1024 * 1024),
    (">2GiB", 2 * 1024 * 1024 * 1024 + 1),
];

/// Bucket index of an object of `bytes` bytes. Upper bounds are exclusive except the 2 GiB one,
/// so exactly 2 GiB falls in `256MiB-2GiB`.
#[inline]
pub fn size_bucket(bytes: u64) -> usize {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        0 => 0,
        b if b < 8 * KIB => 1,
        b if b < 64 * KIB => 2,
        b if b < 512 * KIB => 3,
        b if b < 4 * MIB => 4,
        b if b < 32 * MIB => 5,
        b if b < 256 * MIB => 6,
        b if b <= 2048 * MIB => 7,
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert_eq!(size_bucket(0), 0);
        assert_eq!(size_bucket(1), 1);
        assert_eq!(size_bucket(8191), 1);
        assert_eq!(size_bucket(8192), 2);
        assert_eq!(size_bucket(65536), 3);
        assert_eq!(size_bucket(512 * 1024), 4);
        assert_eq!(size_bucket(4 << 20), 5);
        assert_eq!(size_bucket(32 << 20), 6);
        assert_eq!(size_bucket(256 << 20), 7);
        assert_eq!(size_bucket(2 << 30), 7);
        assert_eq!(size_bucket((2 << 30) + 1), 8);
        for (i, (_, lo)) in SIZE_BUCKETS.iter().enumerate() {
            assert_eq!(size_bucket(*lo), i, "lowest size of bucket {i}");
        }
    }
}
