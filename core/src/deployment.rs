//! The deployment file `deployments/<chainId>.json`, written by `script/Deploy.s.sol`.
//!
//! Services find the contracts through it, so one file names the whole on-chain side.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Deserializer};

use crate::money::Wei;

/// Addresses and parameters of one chain's deployment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    #[serde(deserialize_with = "number_or_string")]
    pub chain_id: u64,
    pub pmc: Address,
    pub money_wave: Address,
    pub donation_hub: Address,
    /// The first block that can hold events of these contracts.
    #[serde(deserialize_with = "number_or_string")]
    pub deployment_block: u64,
    /// MoneyWave's genesis: the UTC midnight (unix seconds) of day 0.
    #[serde(deserialize_with = "number_or_string")]
    pub genesis: u64,
    #[serde(default)]
    pub max_supply: Option<Wei>,
    #[serde(default)]
    pub daily_cap: Option<Wei>,
}

/// A deployment file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("cannot read deployment file {path}: {source}; deploy first (script/dev does)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("deployment file {path} is malformed: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("deployment file {path} is for chain {found}, expected {expected}")]
    WrongChain {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
}

impl Deployment {
    /// Reads `<dir>/<chain_id>.json` and checks that it is for that chain.
    pub fn load(dir: &Path, chain_id: u64) -> Result<Deployment, DeploymentError> {
        let path = dir.join(format!("{chain_id}.json"));
        let d = Deployment::read(&path)?;
        if d.chain_id != chain_id {
            return Err(DeploymentError::WrongChain {
                path,
                found: d.chain_id,
                expected: chain_id,
            });
        }
        Ok(d)
    }

    /// Reads one deployment file.
    pub fn read(path: &Path) -> Result<Deployment, DeploymentError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeploymentError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| DeploymentError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Str(String),
    }
    match N::deserialize(d)? {
        N::Num(n) => Ok(n),
        N::Str(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_deploy_scripts_shape() {
        let json = r#"{"chainId":31337,"pmc":"0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "moneyWave":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
            "donationHub":"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
            "deploymentBlock":"1","genesis":1764115200,"maxSupply":"21000000000000000000000000000",
            "dailyCap":"1000000000000000000000000"}"#;
        let d: Deployment = serde_json::from_str(json).unwrap();
        assert_eq!(d.chain_id, 31337);
        assert_eq!(d.deployment_block, 1);
        assert_eq!(d.daily_cap, Some(Wei::from_pmc(1_000_000)));
    }
}
