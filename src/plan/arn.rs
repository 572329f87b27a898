//! Parsing the Amazon Connect instance ARN, the one fact every other name is built from.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// AWS partitions that have Amazon Connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    Aws,
    AwsUsGov,
}

impl Partition {
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }
}

/// `arn:<partition>:connect:<region>:<account>:instance/<instance id>`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceArn {
    pub partition: Partition,
    pub region: String,
    pub account: String,
    pub instance_id: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{input:?} is not an Amazon Connect instance ARN ({problem}); expected arn:aws:connect:<region>:<12-digit account>:instance/<instance id>"
)]
pub struct ArnError {
    pub input: String,
    pub problem: &'static str,
}

impl FromStr for InstanceArn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |problem| ArnError {
            input: s.chars().take(300).collect(),
            problem,
        };
        let parts: Vec<&str> = s.split(':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(fail("it does not have six ':'-separated parts"));
        };
        if *arn != "arn" {
            return Err(fail("it does not start with 'arn:'"));
        }
        let partition = match *partition {
            "aws" => Partition::Aws,
            "aws-us-gov" => Partition::AwsUsGov,
            _ => return Err(fail("the partition is not aws or aws-us-gov")),
        };
        if *service != "connect" {
            return Err(fail("the service is not connect"));
        }
        if !is_region(region) {
            return Err(fail("the region is not a region name such as us-east-1"));
        }
        if partition == Partition::AwsUsGov && !region.starts_with("us-gov-") {
            return Err(fail("aws-us-gov ARNs name a us-gov-* region"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("the account is not 12 digits"));
        }
        let Some(instance_id) = resource.strip_prefix("instance/") else {
            return Err(fail("the resource is not instance/<id>"));
        };
        if !is_uuid(instance_id) {
            return Err(fail("the instance id is not a lower-case UUID"));
        }
        Ok(InstanceArn {
            partition,
            region: region.to_string(),
            account: account.to_string(),
            instance_id: instance_id.to_string(),
        })
    }
}

impl fmt::Display for InstanceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:connect:{}:{}:instance/{}",
            self.partition.as_str(),
            self.region,
            self.account,
            self.instance_id
        )
    }
}

/// `[a-z]{2}(-[a-z]+)+-[0-9]+`, e.g. `us-east-1`, `us-gov-west-1`, `ap-southeast-2`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words[0].len() == 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}
