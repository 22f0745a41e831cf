//! The chain's word on what may run: ValidatorGovernance's approved releases.

use sdv_chain::GovernanceConnection;

use crate::{Result, Track};

/// The release number under which governance approved `digest` of `image` for `track`, asked
/// on-chain now (on a new connection when the node restarted); `None` when it has not
/// approved it.
pub async fn approved_release(
    governance: &GovernanceConnection,
    image: &str,
    digest: &str,
    track: Track,
) -> Result<Option<u64>> {
    let digest = sdv_fleet::parse_digest(digest)?;
    Ok(governance
        .approved_release_number(image, digest, track)
        .await?)
}
