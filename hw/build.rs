//! Stamps the RTL with a hash of its own source (and the ABI's), reported in the ID block's BUILD_HASH.
use std::path::Path;

fn hash_dir(dir: &Path, h: &mut u32) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            hash_dir(&p, h);
        } else if p.extension().is_some_and(|e| e == "rs") {
            println!("cargo:rerun-if-changed={}", p.display());
            for b in std::fs::read(&p).unwrap_or_default() {
                *h = (*h ^ b as u32).wrapping_mul(0x0100_0193); // FNV-1a
            }
        }
    }
}

fn main() {
    let mut h = 0x811c_9dc5u32;
    hash_dir(Path::new("src"), &mut h);
    hash_dir(Path::new("abi/src"), &mut h);
    println!("cargo:rustc-env=NIC_BUILD_HASH={h}");
}
