//! The repository objects `forget` changes: the stored retention policy
//! (one sealed object at a fixed key, replaced atomically) and removing a
//! snapshot object.

use bytes::Bytes;

use crate::error::Result;
use crate::format::layout;
use crate::format::policy::Policy;
use crate::ids::SnapshotId;
use crate::repo::Repository;

impl Repository {
    /// The stored retention policy, if one is set.
    pub fn load_policy(&self) -> Result<Option<Policy>> {
        match self.storage().get(layout::POLICY) {
            Ok(bytes) => Policy::open(self.keys(), &bytes).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `policy`, replacing any previous one. The put is atomic, so a
    /// reader sees the old policy or the new one, never a mix; of two
    /// concurrent writers the last one wins.
    pub fn save_policy(&self, policy: &Policy) -> Result<()> {
        policy.validate()?;
        let sealed = policy.seal(self.keys());
        self.storage().put(layout::POLICY, Bytes::from(sealed))?;
        Ok(())
    }

    /// Removes the stored policy; no policy is not an error.
    pub fn clear_policy(&self) -> Result<()> {
        Ok(self.storage().delete(layout::POLICY)?)
    }

    /// Deletes one snapshot object (never the data it references: that is
    /// prune's job). Deleting an already deleted snapshot succeeds, so an
    /// interrupted `forget` can simply run again.
    pub fn remove_snapshot(&self, id: &SnapshotId) -> Result<()> {
        Ok(self.storage().delete(&layout::snapshot(id))?)
    }
}
