//! Distributed key generation among the three roles (FROST DKG, RFC 9591 appendix C).

use std::{collections::BTreeMap, fmt};

use frost_ed25519::{keys::dkg, Identifier};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::{hex_serde, seal, Error, Result, Role, Share, PARTICIPANTS, THRESHOLD};

/// A participant's round-1 message, broadcast to the others through the coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round1Message {
    /// The sender.
    pub role: Role,
    /// The sender's X25519 transport key, to which the others seal their round-2 messages.
    #[serde(with = "hex_serde::array32")]
    pub transport_key: [u8; 32],
    /// The sender's FROST round-1 package (`dkg::round1::Package::serialize`).
    #[serde(with = "hex_serde::bytes")]
    pub package: Vec<u8>,
}

/// A round-2 message from one participant to another, sealed to the recipient's transport key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round2Message {
    /// The sender.
    pub from: Role,
    /// The recipient.
    pub to: Role,
    /// The sealed FROST round-2 package (see the crate documentation for the format).
    #[serde(with = "hex_serde::bytes")]
    pub sealed: Vec<u8>,
}

/// One party's side of the key generation. Its secrets stay in memory and are never
/// serialized; they are erased when it is dropped.
pub struct DkgParticipant {
    role: Role,
    transport: StaticSecret,
    own: Round1Message,
    round1_secret: Option<dkg::round1::SecretPackage>,
    round2_secret: Option<dkg::round2::SecretPackage>,
    others: BTreeMap<Identifier, dkg::round1::Package>,
}

impl fmt::Debug for DkgParticipant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkgParticipant")
            .field("role", &self.role)
            .field("transport_key", &hex::encode(self.own.transport_key))
            .finish_non_exhaustive()
    }
}

impl DkgParticipant {
    /// Starts the key generation as `role`: makes the FROST round-1 package and a fresh
    /// transport key, and returns the message to broadcast.
    pub fn start(role: Role) -> Result<(Self, Round1Message)> {
        let (secret, package) = dkg::part1(role.identifier()?, PARTICIPANTS, THRESHOLD, OsRng)?;
        let transport = StaticSecret::random_from_rng(OsRng);
        let message = Round1Message {
            role,
            transport_key: PublicKey::from(&transport).to_bytes(),
            package: package.serialize()?,
        };
        let participant = Self {
            role,
            transport,
            own: message.clone(),
            round1_secret: Some(secret),
            round2_secret: None,
            others: BTreeMap::new(),
        };
        Ok((participant, message))
    }

    /// This participant's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Takes the round-1 messages of all three roles (its own may be among them) and returns
    /// one sealed [`Round2Message`] for each other role.
    ///
    /// Errors: [`Error::DuplicateRole`], [`Error::MissingRole`],
    /// [`Error::OwnRound1Altered`] when a message in its own name is not its own,
    /// [`Error::InvalidTransportKey`] for a small-order transport key, [`Error::Frost`] for a
    /// malformed or invalid package, [`Error::DkgOutOfOrder`] when called twice.
    pub fn round2(&mut self, round1: &[Round1Message]) -> Result<Vec<Round2Message>> {
        if self.round1_secret.is_none() {
            return Err(Error::DkgOutOfOrder("round 2 was already run"));
        }
        let mut by_role: BTreeMap<Role, &Round1Message> = BTreeMap::new();
        for message in round1 {
            if by_role.insert(message.role, message).is_some() {
                return Err(Error::DuplicateRole(message.role));
            }
        }
        if let Some(own) = by_role.remove(&self.role) {
            if *own != self.own {
                return Err(Error::OwnRound1Altered(self.role));
            }
        }
        let mut others = BTreeMap::new();
        let mut transport_keys = BTreeMap::new();
        for role in Role::ALL.into_iter().filter(|r| *r != self.role) {
            let message = by_role.get(&role).ok_or(Error::MissingRole(role))?;
            // A small-order key gives an all-zero shared secret with any secret.
            if !self
                .transport
                .diffie_hellman(&PublicKey::from(message.transport_key))
                .was_contributory()
            {
                return Err(Error::InvalidTransportKey(role));
            }
            others.insert(
                role.identifier()?,
                dkg::round1::Package::deserialize(&message.package)?,
            );
            transport_keys.insert(role.identifier()?, (role, message.transport_key));
        }
        let secret = self
            .round1_secret
            .take()
            .ok_or(Error::DkgOutOfOrder("round 2 was already run"))?;
        let (round2_secret, outgoing) = dkg::part2(secret, &others)?;
        let mut messages = Vec::with_capacity(outgoing.len());
        for (id, package) in outgoing {
            let (to, key) = transport_keys
                .get(&id)
                .copied()
                .ok_or(Error::DkgOutOfOrder(
                    "FROST addressed an unknown participant",
                ))?;
            let bytes = Zeroizing::new(package.serialize()?);
            messages.push(Round2Message {
                from: self.role,
                to,
                sealed: seal::seal(self.role, to, &key, &bytes)?,
            });
        }
        self.round2_secret = Some(round2_secret);
        self.others = others;
        Ok(messages)
    }

    /// Takes the round-2 messages addressed to this participant, one from each other role,
    /// opens them and returns this participant's [`Share`].
    ///
    /// Errors: [`Error::NotAddressedToMe`], [`Error::WrongSender`] (itself or an unknown
    /// sender), [`Error::DuplicateRole`], [`Error::MissingRole`], [`Error::SealBroken`] when a
    /// message does not open, [`Error::Frost`] when a package does not match its sender's
    /// round-1 commitment, [`Error::DkgOutOfOrder`] before [`DkgParticipant::round2`].
    pub fn finish(self, round2: &[Round2Message]) -> Result<Share> {
        let secret = self
            .round2_secret
            .as_ref()
            .ok_or(Error::DkgOutOfOrder("finish before round 2"))?;
        let mut packages = BTreeMap::new();
        for message in round2 {
            if message.to != self.role {
                return Err(Error::NotAddressedToMe {
                    to: message.to,
                    me: self.role,
                });
            }
            let id = message.from.identifier()?;
            if message.from == self.role || !self.others.contains_key(&id) {
                return Err(Error::WrongSender {
                    from: message.from,
                    me: self.role,
                });
            }
            if packages.contains_key(&id) {
                return Err(Error::DuplicateRole(message.from));
            }
            let bytes = seal::open(message.from, self.role, &self.transport, &message.sealed)?;
            packages.insert(id, dkg::round2::Package::deserialize(&bytes)?);
        }
        for role in Role::ALL.into_iter().filter(|r| *r != self.role) {
            if !packages.contains_key(&role.identifier()?) {
                return Err(Error::MissingRole(role));
            }
        }
        let (key_package, public) = dkg::part3(secret, &self.others, &packages)?;
        Share::new(self.role, key_package, public)
    }
}
