//! The server's own files are private to the user it runs as: the data directory is
//! 0700, and the database (with its WAL and shared-memory files), the lock file and
//! the generated keys are 0600. Created that way, and tightened at start when an
//! older install left them wider, so a local user cannot read tokens, credentials or
//! messages.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const PRIVATE_DIR: u32 = 0o700;
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` (and its parents) owner-only, or makes an existing one so.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)?;
    restrict(dir, PRIVATE_DIR)
}

/// Makes sure `file` exists and is owner-only, leaving its contents alone.
pub fn private_file(file: &Path) -> std::io::Result<()> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(PRIVATE_FILE)
        .open(file)?;
    restrict(file, PRIVATE_FILE)
}

/// Narrows `path` to `mode` if it exists and is wider; a missing path is fine.
pub fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o777 & !mode != 0 => {
            std::fs::set_permissions(path, Permissions::from_mode(mode))
        }
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_existing_paths_end_up_owner_only_and_contents_stay() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("data");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("db");
        std::fs::write(&file, b"kept").unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        private_file(&file).unwrap();
        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
        assert_eq!(std::fs::read(&file).unwrap(), b"kept");
        restrict(&dir.join("missing"), 0o600).unwrap();
    }
}
