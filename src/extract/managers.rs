//! `manager_id` on the real dialects, resolved from identities: a person's manager is the
//! listed person who owns the identity whose `identityId` equals the person's identity's
//! `managerId`, in the same connection. A manager may be listed after their reports, so the
//! index is built in one pass over the whole listing (the spill file) before anyone is
//! written, and holds only compact keys: a 128-bit hash of `(connection id, identityId)` to
//! the owner's personnel id, and a hash of every listed personnel id.
//!
//! Which identity decides for a person with several: the first *linked* one (not
//! disconnected, connection not deleted) that names a manager, else the first one that
//! names a manager at all (array order). An identity key owned by two people is decided by
//! the linked owner; two owners alike make it ambiguous, and the manager unresolved.
//! Knows records, not HTTP or Parquet.

use crate::error::EtlError;
use crate::record::{id_key, Identity, Person};
use std::collections::{HashMap, HashSet};

/// Who owns one `(connection, identityId)`.
#[derive(Debug, Clone, PartialEq)]
enum Owner {
    One { personnel_id: String, linked: bool },
    Ambiguous,
}

/// The identities of everyone listed, by `(connection, identityId)`, and the listed ids.
#[derive(Debug, Default)]
pub struct ManagerIndex {
    owners: HashMap<u128, Owner>,
    listed: HashSet<u128>,
}

/// How a person's manager resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerLink {
    /// No identity names a manager.
    NoManager,
    /// The manager's personnel id.
    Resolved(String),
    /// An identity names a manager no listed person's identity is (or several are).
    Unresolved,
}

fn key(connection: Option<&str>, identity_id: &str) -> u128 {
    id_key(&format!("{}\u{1f}{}", connection.unwrap_or(""), identity_id.trim()))
}

fn named(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

impl ManagerIndex {
    /// Index every listed person (`Err` items, e.g. an unreadable spill line, fail).
    pub fn build(people: impl Iterator<Item = Result<Person, EtlError>>) -> Result<Self, EtlError> {
        let mut index = ManagerIndex::default();
        for p in people {
            index.add(&p?);
        }
        Ok(index)
    }

    pub fn add(&mut self, p: &Person) {
        self.listed.insert(id_key(&p.id));
        for i in &p.identities {
            let Some(identity_id) = named(i.identity_id.as_deref()) else { continue };
            let linked = i.is_linked();
            let k = key(i.connection_id.as_deref(), identity_id);
            let new = Owner::One { personnel_id: p.id.clone(), linked };
            match self.owners.get_mut(&k) {
                None => {
                    self.owners.insert(k, new);
                }
                Some(Owner::Ambiguous) => {}
                Some(Owner::One { personnel_id, linked: was_linked }) => {
                    if *personnel_id == p.id {
                        *was_linked |= linked;
                    } else if linked && !*was_linked {
                        *self.owners.get_mut(&k).expect("present") = new;
                    } else if linked == *was_linked {
                        *self.owners.get_mut(&k).expect("present") = Owner::Ambiguous;
                    }
                }
            }
        }
    }

    /// Was this personnel id listed?
    pub fn is_listed(&self, personnel_id: &str) -> bool {
        self.listed.contains(&id_key(personnel_id))
    }

    /// The identity that decides `p`'s manager (see the module docs).
    pub fn deciding(identities: &[Identity]) -> Option<&Identity> {
        let names = |i: &&Identity| named(i.manager_id.as_deref()).is_some();
        identities.iter().filter(|i| i.is_linked()).find(names).or_else(|| identities.iter().find(names))
    }

    /// `p`'s manager by their identities.
    pub fn resolve(&self, p: &Person) -> ManagerLink {
        let Some(i) = Self::deciding(&p.identities) else { return ManagerLink::NoManager };
        let manager = named(i.manager_id.as_deref()).expect("deciding identities name a manager");
        match self.owners.get(&key(i.connection_id.as_deref(), manager)) {
            Some(Owner::One { personnel_id, .. }) => ManagerLink::Resolved(personnel_id.clone()),
            _ => ManagerLink::Unresolved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::parse_lenient_timestamp;

    fn ident(conn: &str, id: &str, manager: Option<&str>) -> Identity {
        Identity {
            connection_id: Some(conn.into()),
            identity_id: Some(id.into()),
            manager_id: manager.map(str::to_string),
            ..Identity::default()
        }
    }

    fn person(id: &str, identities: Vec<Identity>) -> Person {
        Person { id: id.into(), identities, ..Person::default() }
    }

    fn index(people: &[Person]) -> ManagerIndex {
        ManagerIndex::build(people.iter().cloned().map(Ok)).unwrap()
    }

    #[test]
    fn a_manager_listed_after_the_report_resolves() {
        let people =
            [person("2", vec![ident("1", "okta-b", Some("okta-a"))]), person("1", vec![ident("1", "okta-a", None)])];
        let ix = index(&people);
        assert_eq!(ix.resolve(&people[0]), ManagerLink::Resolved("1".into()));
        assert_eq!(ix.resolve(&people[1]), ManagerLink::NoManager);
        assert!(ix.is_listed("1") && ix.is_listed("2") && !ix.is_listed("3"));
    }

    #[test]
    fn the_same_identity_id_in_two_connections_is_two_identities() {
        // "u1" is person 1 in connection 1 and person 3 in connection 2.
        let people = [
            person("1", vec![ident("1", "u1", None)]),
            person("3", vec![ident("2", "u1", None)]),
            person("2", vec![ident("2", "u2", Some("u1"))]),
            person("4", vec![ident("1", "u4", Some("u1"))]),
        ];
        let ix = index(&people);
        assert_eq!(ix.resolve(&people[2]), ManagerLink::Resolved("3".into()));
        assert_eq!(ix.resolve(&people[3]), ManagerLink::Resolved("1".into()));
    }

    #[test]
    fn a_manager_nobody_has_is_unresolved() {
        let people = [person("1", vec![ident("1", "a", Some("gone"))]), person("2", vec![ident("9", "b", Some("a"))])];
        let ix = index(&people);
        assert_eq!(ix.resolve(&people[0]), ManagerLink::Unresolved);
        // The right identity id, but in another connection: not the same account.
        assert_eq!(ix.resolve(&people[1]), ManagerLink::Unresolved);
        // No identities, or none naming a manager (blank counts as none).
        assert_eq!(ix.resolve(&person("3", vec![])), ManagerLink::NoManager);
        assert_eq!(ix.resolve(&person("3", vec![ident("1", "c", Some("  "))])), ManagerLink::NoManager);
    }

    #[test]
    fn a_cycle_resolves_as_the_data_says() {
        // The org derivation marks cycles; resolution only maps ids.
        let people = [person("1", vec![ident("1", "a", Some("b"))]), person("2", vec![ident("1", "b", Some("a"))])];
        let ix = index(&people);
        assert_eq!(ix.resolve(&people[0]), ManagerLink::Resolved("2".into()));
        assert_eq!(ix.resolve(&people[1]), ManagerLink::Resolved("1".into()));
        let me = [person("1", vec![ident("1", "a", Some("a"))])];
        assert_eq!(index(&me).resolve(&me[0]), ManagerLink::Resolved("1".into()));
    }

    #[test]
    fn the_linked_identity_decides_and_owns() {
        let gone = parse_lenient_timestamp("2024-01-01T00:00:00Z");
        let old = |conn: &str, id: &str, m: Option<&str>| Identity { disconnected_at: gone, ..ident(conn, id, m) };
        // Person 3's unlinked identity names manager "a", the linked one manager "b".
        let p3 = person("3", vec![old("1", "c-old", Some("a")), ident("1", "c", Some("b"))]);
        let people = [person("1", vec![ident("1", "a", None)]), person("2", vec![ident("1", "b", None)]), p3];
        assert_eq!(index(&people).resolve(&people[2]), ManagerLink::Resolved("2".into()));
        // Only unlinked identities name a manager: the first of them decides.
        let p4 = person("4", vec![old("1", "d", None), old("1", "d2", Some("a"))]);
        assert_eq!(index(&people).resolve(&p4), ManagerLink::Resolved("1".into()));
        // An identity key owned twice: the linked owner wins; two linked owners are ambiguous.
        let reused = [
            person("1", vec![old("1", "x", None)]),
            person("2", vec![ident("1", "x", None)]),
            person("3", vec![ident("1", "y", Some("x"))]),
        ];
        assert_eq!(index(&reused).resolve(&reused[2]), ManagerLink::Resolved("2".into()));
        let twice = [
            person("1", vec![ident("1", "x", None)]),
            person("2", vec![ident("1", "x", None)]),
            person("3", vec![ident("1", "y", Some("x"))]),
        ];
        assert_eq!(index(&twice).resolve(&twice[2]), ManagerLink::Unresolved);
    }
}
