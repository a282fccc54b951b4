//! What sysfs says about a PCI function before we touch VFIO: does it exist,
//! which driver has it, which IOMMU group is it in and who else is in there.
//!
//! These answers turn a bare `ENOENT`/`EBUSY` from `/dev/vfio` into a message
//! with the commands that fix it. The root is a parameter so the messages are
//! tested on a made-up tree; the ioctls are tested on a real kernel (QEMU).

use std::path::{Path, PathBuf};

/// A sysfs tree (normally `/sys`).
#[derive(Clone, Debug)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs { root: PathBuf::from("/sys") }
    }
}

/// One device in an IOMMU group, and the driver bound to it (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// PCI address.
    pub bdf: String,
    /// Bound driver's name, `None` when unbound.
    pub driver: Option<String>,
}

impl GroupMember {
    /// Whether this member lets the group be used through VFIO: bound to
    /// vfio-pci or pci-stub, to no driver at all, or a PCIe port (which the
    /// kernel allows in a VFIO group).
    pub fn is_vfio_safe(&self) -> bool {
        matches!(self.driver.as_deref(), None | Some("vfio-pci") | Some("pci-stub") | Some("pcieport"))
    }
}

impl Sysfs {
    /// A tree rooted at `root` instead of `/sys` (tests).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Sysfs { root: root.into() }
    }

    fn dev(&self, bdf: &str) -> PathBuf {
        self.root.join("bus/pci/devices").join(bdf)
    }

    /// Whether the PCI function exists.
    pub fn exists(&self, bdf: &str) -> bool {
        self.dev(bdf).exists()
    }

    /// The bound driver's name, `None` when no driver has the function.
    pub fn driver(&self, bdf: &str) -> Option<String> {
        link_name(&self.dev(bdf).join("driver"))
    }

    /// The IOMMU group number, `None` when the IOMMU is off (no `iommu_group` link).
    pub fn iommu_group(&self, bdf: &str) -> Option<u32> {
        link_name(&self.dev(bdf).join("iommu_group"))?.parse().ok()
    }

    /// `vendor:device` in hex, e.g. "1234:11e8", when sysfs has both files.
    pub fn ids(&self, bdf: &str) -> Option<String> {
        let read = |f: &str| {
            let s = std::fs::read_to_string(self.dev(bdf).join(f)).ok()?;
            Some(s.trim().trim_start_matches("0x").to_string())
        };
        Some(format!("{}:{}", read("vendor")?, read("device")?))
    }

    /// Every device in IOMMU group `group`, sorted by address.
    pub fn group_members(&self, group: u32) -> Vec<GroupMember> {
        let dir = self.root.join("kernel/iommu_groups").join(group.to_string()).join("devices");
        let mut v: Vec<GroupMember> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let bdf = e.file_name().to_string_lossy().into_owned();
                        GroupMember { driver: self.driver(&bdf), bdf }
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.bdf.cmp(&b.bdf));
        v
    }

    /// The shell commands that hand `bdf` to vfio-pci (unbinding `driver` first, if any).
    pub fn rebind_commands(&self, bdf: &str, driver: Option<&str>) -> Vec<String> {
        let dev = Path::new("/sys/bus/pci/devices").join(bdf);
        let mut c = vec!["modprobe vfio-pci".to_string()];
        if driver.is_some() {
            c.push(format!("echo {bdf} > {}", dev.join("driver/unbind").display()));
        }
        c.push(format!("echo vfio-pci > {}", dev.join("driver_override").display()));
        c.push(format!("echo {bdf} > /sys/bus/pci/drivers_probe"));
        c
    }
}

/// The last component of a symlink's target (`.../drivers/vfio-pci` -> "vfio-pci").
fn link_name(p: &Path) -> Option<String> {
    let t = std::fs::read_link(p).ok()?;
    Some(t.file_name()?.to_string_lossy().into_owned())
}

/// Checks and normalises a PCI address: "01:00.0" -> "0000:01:00.0".
pub fn parse_bdf(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let full = if s.matches(':').count() == 1 { format!("0000:{s}") } else { s };
    let (dom, rest) = full.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = hex(dom, 4)
        && hex(bus, 2)
        && hex(dev, 2)
        && u8::from_str_radix(dev, 16).is_ok_and(|d| d < 32)
        && func.len() == 1
        && func.bytes().all(|b| (b'0'..=b'7').contains(&b));
    ok.then_some(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn addresses_are_checked_and_normalised() {
        assert_eq!(parse_bdf("01:00.0").as_deref(), Some("0000:01:00.0"));
        assert_eq!(parse_bdf("0000:AF:1f.7").as_deref(), Some("0000:af:1f.7"));
        for bad in ["", "1:00.0", "01:00", "01:00.8", "01:20.0", "0000:01:00.0.1", "zz:00.0", "00:03.0 x"] {
            assert_eq!(parse_bdf(bad), None, "{bad:?}");
        }
    }

    /// A made-up sysfs: 00:03.0 (edu, vfio-pci) shares group 7 with 00:04.0 (e1000e) and 00:05.0 (unbound).
    #[test]
    fn drivers_groups_and_rebind_commands() {
        let root = std::env::temp_dir().join(format!("nic-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let devs = root.join("bus/pci/devices");
        let grp = root.join("kernel/iommu_groups/7/devices");
        std::fs::create_dir_all(&grp).unwrap();
        std::fs::create_dir_all(root.join("bus/pci/drivers/vfio-pci")).unwrap();
        std::fs::create_dir_all(root.join("bus/pci/drivers/e1000e")).unwrap();
        for (bdf, drv) in [("0000:00:03.0", Some("vfio-pci")), ("0000:00:04.0", Some("e1000e")), ("0000:00:05.0", None)]
        {
            let d = devs.join(bdf);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("vendor"), "0x1234\n").unwrap();
            std::fs::write(d.join("device"), "0x11e8\n").unwrap();
            if let Some(drv) = drv {
                symlink(root.join("bus/pci/drivers").join(drv), d.join("driver")).unwrap();
            }
            symlink(root.join("kernel/iommu_groups/7"), d.join("iommu_group")).unwrap();
            symlink(&d, grp.join(bdf)).unwrap();
        }
        let s = Sysfs::at(&root);
        assert!(s.exists("0000:00:03.0") && !s.exists("0000:00:09.0"));
        assert_eq!(s.driver("0000:00:03.0").as_deref(), Some("vfio-pci"));
        assert_eq!(s.driver("0000:00:05.0"), None);
        assert_eq!(s.iommu_group("0000:00:04.0"), Some(7));
        assert_eq!(s.ids("0000:00:03.0").as_deref(), Some("1234:11e8"));
        let m = s.group_members(7);
        assert_eq!(m.len(), 3);
        let unsafe_members: Vec<_> = m.iter().filter(|m| !m.is_vfio_safe()).map(|m| m.bdf.as_str()).collect();
        assert_eq!(unsafe_members, ["0000:00:04.0"]);
        let c = s.rebind_commands("0000:00:04.0", Some("e1000e"));
        assert_eq!(c[1], "echo 0000:00:04.0 > /sys/bus/pci/devices/0000:00:04.0/driver/unbind");
        assert_eq!(c.last().unwrap(), "echo 0000:00:04.0 > /sys/bus/pci/drivers_probe");
        assert_eq!(s.rebind_commands("0000:00:05.0", None).len(), 3, "nothing to unbind");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
