//! One conformance suite, run against every scheme's real server: `file://` and `direct://` on
//! the local disk, and `s3://`, `az://`, `gs://` against the loopback testbed (`scripts/testbed`;
//! `eval "$(scripts/testbed env)"`). Without the testbed the object-store cases are skipped with a
//! message — unless SAI3_REQUIRE_TESTBED=1 (set by scripts/test.sh), which makes them fail.

use bytes::Bytes;
use sai3::core::config::StorageOptions;
use sai3::core::store::{open_backend, Backend, StoreError};

mod common;

use common::{testbed, testbed_vars, unique};

fn data(n: usize, seed: u8) -> Bytes {
    Bytes::from((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>())
}

/// Every operation of the Backend contract, as the engine uses it.
async fn conformance(base: &str) {
    conformance_with(base, StorageOptions::default()).await
}

async fn conformance_with(base: &str, opts: StorageOptions) {
    let opts = StorageOptions {
        // Exercise multipart with a small object: 5 MiB parts, threshold 6 MiB.
        multipart_threshold: Some(6 << 20),
        multipart_part_size: Some(5 << 20),
        ..opts
    };
    let b: std::sync::Arc<dyn Backend> =
        open_backend(base, &opts).await.unwrap_or_else(|e| panic!("{base}: open: {e}"));
    b.preflight(true).await.unwrap_or_else(|e| panic!("{base}: preflight: {e}"));

    // PUT then GET/STAT, small, empty and multipart-sized.
    for (key, n) in [("a/one.dat", 4096usize), ("a/b/two.dat", 1), ("a/empty.dat", 0), ("big/multi.dat", 11 << 20)] {
        b.put(key, data(n, 7)).await.unwrap_or_else(|e| panic!("{base}{key}: put: {e}"));
        assert_eq!(
            b.get(key).await.unwrap_or_else(|e| panic!("{base}{key}: get: {e}")),
            n as u64,
            "{base}{key}: get length"
        );
        assert_eq!(
            b.stat(key).await.unwrap_or_else(|e| panic!("{base}{key}: stat: {e}")),
            n as u64,
            "{base}{key}: stat size"
        );
    }
    // Overwrite replaces.
    b.put("a/one.dat", data(100, 9)).await.unwrap();
    assert_eq!(b.stat("a/one.dat").await.unwrap(), 100);

    // LIST is recursive, relative to the base, with sizes; partial-name prefixes work.
    let mut listed: Vec<(String, u64)> = b.list("a/").await.unwrap().into_iter().map(|o| (o.key, o.size)).collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![("a/b/two.dat".into(), 1), ("a/empty.dat".into(), 0), ("a/one.dat".into(), 100)],
        "{base}: list a/"
    );
    let mut on: Vec<String> = b.list("a/o").await.unwrap().into_iter().map(|o| o.key).collect();
    on.sort();
    assert_eq!(on, vec!["a/one.dat"], "{base}: list with a partial name");
    assert_eq!(b.list_count("a/").await.unwrap(), 3, "{base}: list_count");
    assert!(b.list("nothing-here/").await.unwrap().is_empty(), "{base}: empty prefix");

    // DELETE, then the object is gone for every op.
    b.delete("a/b/two.dat").await.unwrap();
    assert!(matches!(b.get("a/b/two.dat").await, Err(StoreError::NotFound(_))), "{base}: get after delete");
    assert!(matches!(b.stat("a/b/two.dat").await, Err(StoreError::NotFound(_))), "{base}: stat after delete");
    assert!(matches!(b.get("never/was.dat").await, Err(StoreError::NotFound(_))), "{base}: get missing");

    // Leave nothing behind.
    for o in b.list("").await.unwrap() {
        b.delete(&o.key).await.unwrap();
    }
    assert!(b.list("").await.unwrap().is_empty(), "{base}: everything deleted");
}

#[tokio::test]
async fn file_conformance() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&format!("file://{}/", dir.path().display())).await;
}

#[tokio::test]
async fn direct_conformance() {
    let dir = tempfile::Builder::new().prefix("sai3-conf").tempdir_in("/var/tmp").unwrap();
    conformance(&format!("direct://{}/", dir.path().display())).await;
}

#[tokio::test]
async fn s3_conformance() {
    let Some(base) = testbed("SAI3_TEST_S3_URI") else { return };
    conformance(&format!("{base}{}/", unique("conf"))).await;
}

/// The same contract with `storage.s3_client: object_store` (GET and PUT through object_store
/// instead of sai3's own HTTP data path, which `s3_conformance` uses on the plain-HTTP testbed).
#[tokio::test]
async fn s3_conformance_through_object_store() {
    let Some(base) = testbed("SAI3_TEST_S3_URI") else { return };
    let opts = StorageOptions { s3_client: sai3::core::config::S3Client::ObjectStore, ..StorageOptions::default() };
    conformance_with(&format!("{base}{}/", unique("conf")), opts).await;
}

/// Objects written by one client read back identically through the other (same bytes, same
/// size), both ways: the direct data path names and signs objects as object_store does.
#[tokio::test]
async fn s3_clients_read_each_others_objects() {
    let Some(base) = testbed("SAI3_TEST_S3_URI") else { return };
    let base = format!("{base}{}/", unique("conf"));
    let native = open_backend(&base, &StorageOptions::default()).await.unwrap();
    let os = StorageOptions { s3_client: sai3::core::config::S3Client::ObjectStore, ..StorageOptions::default() };
    let os = open_backend(&base, &os).await.unwrap();
    let th = StorageOptions { s3_client: sai3::core::config::S3Client::Threads, ..StorageOptions::default() };
    let th = open_backend(&base, &th).await.unwrap();
    assert!(th.is_blocking() && !native.is_blocking(), "s3_client: threads blocks on its sockets");
    let pairs = [
        (&native, &os, "dir/a b+c%.dat"),
        (&os, &native, "dir/ü/x~y.dat"),
        (&th, &os, "dir/t h.dat"),
        (&os, &th, "dir/ü/t~h.dat"),
    ];
    for (writer, reader, key) in pairs {
        let body = data(70_000, 3);
        writer.put(key, body.clone()).await.unwrap_or_else(|e| panic!("{key}: put: {e}"));
        let mut got = Vec::new();
        let mut sink = |off: u64, b: &[u8]| {
            assert_eq!(off as usize, got.len());
            got.extend_from_slice(b);
        };
        assert_eq!(reader.read(key, None, Some(&mut sink)).await.unwrap(), body.len() as u64, "{key}");
        assert!(got == body[..], "{key}: the bytes read differ from those written");
        let mut part = Vec::new();
        let mut sink = |off: u64, b: &[u8]| {
            assert_eq!(off as usize, 1000 + part.len());
            part.extend_from_slice(b);
        };
        assert_eq!(reader.read(key, Some((1000, 5000)), Some(&mut sink)).await.unwrap(), 5000, "{key} range");
        assert!(part == body[1000..6000], "{key}: the range read differs");
        writer.delete(key).await.unwrap();
    }
}

/// `storage.unsigned_payload: true`: both clients' PUTs are accepted and read back the same.
#[tokio::test]
async fn s3_unsigned_payload_puts_read_back() {
    let Some(base) = testbed("SAI3_TEST_S3_URI") else { return };
    let base = format!("{base}{}/", unique("conf"));
    let mut opts = StorageOptions { unsigned_payload: Some(true), ..StorageOptions::default() };
    let native = open_backend(&base, &opts).await.unwrap();
    opts.s3_client = sai3::core::config::S3Client::ObjectStore;
    let os = open_backend(&base, &opts).await.unwrap();
    for (b, key) in [(&native, "u/native.dat"), (&os, "u/object_store.dat")] {
        let body = data(5000, 7);
        b.put(key, body.clone()).await.unwrap_or_else(|e| panic!("{key}: put: {e}"));
        let mut got = Vec::new();
        let mut sink = |_: u64, d: &[u8]| got.extend_from_slice(d);
        assert_eq!(b.read(key, None, Some(&mut sink)).await.unwrap(), body.len() as u64, "{key}");
        assert!(got == body[..], "{key}: the bytes read differ from those written");
        b.delete(key).await.unwrap();
    }
}

#[tokio::test]
async fn s3_second_endpoint_sees_the_same_namespace() {
    let Some([a, b]) = testbed_vars(["SAI3_TEST_S3_URI", "SAI3_TEST_S3_URI2"]) else { return };
    let p = unique("conf");
    let opts = StorageOptions::default();
    let ea = open_backend(&format!("{a}{p}/"), &opts).await.unwrap();
    let eb = open_backend(&format!("{b}{p}/"), &opts).await.unwrap();
    ea.put("x.dat", data(1234, 1)).await.unwrap();
    assert_eq!(eb.stat("x.dat").await.unwrap(), 1234);
    eb.delete("x.dat").await.unwrap();
    assert!(matches!(ea.stat("x.dat").await, Err(StoreError::NotFound(_))));
}

#[tokio::test]
async fn azure_conformance() {
    let Some(base) = testbed("SAI3_TEST_AZ_URI") else { return };
    conformance(&format!("{base}{}/", unique("conf"))).await;
}

#[tokio::test]
async fn gcs_conformance() {
    let Some(base) = testbed("SAI3_TEST_GS_URI") else { return };
    conformance(&format!("{base}{}/", unique("conf"))).await;
}
