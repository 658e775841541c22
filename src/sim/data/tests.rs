//! Unit tests of `sim::data`, kept beside it so the module reads as code first.

use super::*;
use std::collections::HashSet;

#[test]
fn permutation_inverts() {
    for x in [0u64, 1, 2, 12345, u64::MAX, 0xDEAD_BEEF_0000_0001] {
        assert_eq!(unpermute(permute(x)), x);
    }
}

#[test]
fn civil_dates() {
    assert_eq!(date_string(0), "1970-01-01");
    assert_eq!(date_string(DAY_2012_01_01), "2012-01-01");
    assert_eq!(date_string(DAY_2025_09_30), "2025-09-30");
    assert_eq!(date_string(19_783), "2024-03-01");
}

#[test]
fn ids_roundtrip_and_are_uuids() {
    let g = Generator::new(7, 100);
    for i in [0u64, 1, 99, 100, 1_000_000] {
        let id = g.person_id(i);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "version nibble in {id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "variant in {id}");
        assert_eq!(g.index_of(&id), Some(i));
        assert_eq!(g.index_of(&id.to_uppercase()), Some(i));
    }
    // Another workspace's ids are not ours.
    let other = Generator::new(8, 100);
    assert_eq!(g.index_of(&other.person_id(3)), None);
    assert_eq!(g.index_of("not-a-uuid"), None);
    assert_eq!(g.index_of("00000000-0000-4000-8000-000000000000"), None);
}

#[test]
fn deterministic() {
    let a = Generator::new(42, 1000);
    let b = Generator::new(42, 1000);
    for i in 0..200 {
        let pa = serde_json::to_string(&a.person(i)).unwrap();
        let pb = serde_json::to_string(&b.person(i)).unwrap();
        assert_eq!(pa, pb);
        assert_eq!(a.trainings(i), b.trainings(i));
        assert_eq!(a.background_checks(i), b.background_checks(i));
    }
    assert_eq!(a.controls(80, 1000), b.controls(80, 1000));
    let c = Generator::new(43, 1000);
    assert_ne!(serde_json::to_string(&a.person(5)).unwrap(), serde_json::to_string(&c.person(5)).unwrap());
}

#[test]
fn population_properties_over_10k() {
    const N: u64 = 10_000;
    let g = Generator::new(2024, N);
    let mut ids = HashSet::new();
    let mut emails = HashSet::new();
    let mut inactive = 0;
    let mut inactive_with_end = 0;
    let mut inactive_without_end = 0;
    let mut non_ascii = 0;
    let mut roots = 0;
    let mut retakes = 0;
    let mut max_train = 0;
    let mut intern = 0;
    let mut extra = 0;
    let mut datetime = 0;
    let mut nulls = 0;
    let mut managers = Vec::with_capacity(N as usize);
    for i in 0..N {
        let p = g.person(i);
        assert!(ids.insert(p.id.clone()), "duplicate id");
        assert!(emails.insert(p.email.clone()), "duplicate email");
        if !p.is_active {
            inactive += 1;
            if p.end_date.as_val().is_some() {
                inactive_with_end += 1;
            } else {
                inactive_without_end += 1;
            }
        } else {
            assert!(p.end_date.as_val().is_none());
        }
        if !p.first_name.is_ascii() || !p.last_name.is_ascii() {
            non_ascii += 1;
        }
        let manager = p.manager_id.as_val().map(|m| g.index_of(m).expect("valid id"));
        match manager {
            Some(m) => assert!(m < i, "manager must be an earlier person"),
            None => roots += 1,
        }
        managers.push(manager);
        if p.employment_type == Opt::Val("INTERN") {
            intern += 1;
        }
        if p.extra.is_some() {
            extra += 1;
        }
        if p.start_date.as_val().is_some_and(|d| d.contains('T')) {
            datetime += 1;
        }
        if p.title == Opt::Null || p.department == Opt::Null {
            nulls += 1;
        }
        let t = g.trainings(i);
        assert!(t.len() <= 4);
        max_train = max_train.max(t.len());
        let names: HashSet<_> = t.iter().map(|t| t.name).collect();
        if names.len() < t.len() {
            retakes += 1;
        }
        for row in &t {
            let dated = matches!(row.status, "COMPLETED" | "EXPIRED");
            assert_eq!(row.completed_at.is_some(), dated);
        }
        assert!(g.background_checks(i).len() <= 2);
    }
    assert_eq!(managers[0], None);
    // Walk every chain to the root: acyclic and every reference resolves.
    for start in 0..N as usize {
        let mut cur = start;
        let mut steps = 0;
        while let Some(m) = managers[cur] {
            cur = m as usize;
            steps += 1;
            assert!(steps <= N, "cycle");
        }
    }
    let frac = inactive as f64 / N as f64;
    assert!((0.08..0.12).contains(&frac), "inactive fraction {frac}");
    assert!(inactive_with_end > 0 && inactive_without_end > 0);
    assert!(non_ascii > N / 10, "non-ASCII names: {non_ascii}");
    assert!(roots >= 1);
    assert!(retakes > 50, "retakes: {retakes}");
    assert_eq!(max_train, 4);
    assert!(intern > 0 && intern < N / 100, "INTERN count {intern}");
    assert!(extra > 0 && datetime > 0 && nulls > 0);
}

#[test]
fn specific_names_appear() {
    let g = Generator::new(1, 10_000);
    let mut seen = HashSet::new();
    for i in 0..10_000 {
        let p = g.person(i);
        seen.insert(p.first_name);
        seen.insert(p.last_name);
    }
    for name in ["José", "Zoë", "Łukasz", "王", "Søren", "O'Brien"] {
        assert!(seen.contains(name), "{name} missing");
    }
}

#[test]
fn controls_shape() {
    let g = Generator::new(9, 500);
    let cs = g.controls(80, 500);
    assert_eq!(cs.len(), 80);
    let ids: HashSet<_> = cs.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids.len(), 80);
    assert!(cs[11].id == "DCF-12");
    let unowned = cs.iter().filter(|c| c.owner_id.is_none()).count();
    assert_eq!(unowned, 4);
    let inactive_owned = cs
        .iter()
        .filter_map(|c| c.owner_id.as_deref())
        .filter(|id| !g.person(g.index_of(id).unwrap()).is_active)
        .count();
    assert!(inactive_owned >= 4);
    for c in &cs {
        if let Some(o) = &c.owner_id {
            assert!(g.index_of(o).unwrap() < 500);
        }
    }
    assert!(g.controls(10, 0).iter().all(|c| c.owner_id.is_none()));
}
