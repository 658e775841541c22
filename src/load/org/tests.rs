//! Unit tests of `load::org`, kept beside it so the module reads as code first.

use super::*;

/// One person: (id, email, manager_id).
type Rec = (String, Option<String>, Option<String>);

fn graph(people: &[(&'static str, Option<&'static str>)]) -> OrgGraph {
    OrgGraph::from_records(people.iter().map(|(id, m)| (*id, Some(*id), *m)).collect::<Vec<_>>())
}

fn rows(g: &OrgGraph) -> HashMap<String, OrgRow> {
    (0..g.len()).map(|i| g.row(i)).map(|r| (r.id.clone(), r)).collect()
}

fn chain(r: &OrgRow) -> String {
    r.chain.join(">")
}

#[test]
fn tree_depths_tops_and_chains() {
    // c -> b -> a (top); d -> a; e alone. Listed out of order on purpose.
    let g = graph(&[("c", Some("b")), ("a", None), ("b", Some("a")), ("d", Some("a")), ("e", None)]);
    let r = rows(&g);
    assert_eq!(r["a"].depth, Some(0));
    assert_eq!(r["a"].top_manager_id.as_deref(), Some("a"));
    assert_eq!(r["c"].depth, Some(2));
    assert_eq!(chain(&r["c"]), "c>b>a");
    assert_eq!(r["c"].top_manager_id.as_deref(), Some("a"));
    assert_eq!(r["c"].manager_email.as_deref(), Some("b"));
    assert_eq!(r["d"].depth, Some(1));
    assert_eq!(chain(&r["e"]), "e");
    assert!(r.values().all(|r| r.chain_status == ChainStatus::Ok && !r.in_cycle && !r.manager_dangling));
}

#[test]
fn cycles_are_flagged_and_never_looped() {
    // a -> b -> c -> a is a cycle; d leads into it; s manages itself.
    let g = graph(&[("a", Some("b")), ("b", Some("c")), ("c", Some("a")), ("d", Some("a")), ("s", Some("s"))]);
    let r = rows(&g);
    for id in ["a", "b", "c", "s"] {
        assert!(r[id].in_cycle, "{id}");
        assert_eq!(r[id].chain_status, ChainStatus::Cycle);
        assert_eq!(r[id].depth, None);
        assert_eq!(r[id].top_manager_id, None);
    }
    assert_eq!(chain(&r["a"]), "a>b>c>a");
    assert_eq!(chain(&r["c"]), "c>a>b>c");
    assert_eq!(chain(&r["s"]), "s>s");
    assert!(!r["d"].in_cycle);
    assert_eq!(r["d"].chain_status, ChainStatus::Cycle);
    assert_eq!(chain(&r["d"]), "d>a>b>c>a");
    assert_eq!(g.anomalies(), (0, 4));
}

#[test]
fn dangling_references_end_the_chain() {
    let g = graph(&[("a", Some("ghost")), ("b", Some("a")), ("c", None)]);
    let r = rows(&g);
    assert!(r["a"].manager_dangling);
    assert_eq!(r["a"].manager_id.as_deref(), Some("ghost"));
    assert_eq!(r["a"].manager_email, None);
    assert_eq!(r["a"].depth, Some(1));
    assert_eq!(chain(&r["a"]), "a>ghost");
    assert!(!r["b"].manager_dangling);
    assert_eq!(r["b"].chain_status, ChainStatus::Dangling);
    assert_eq!(r["b"].depth, Some(2));
    assert_eq!(r["b"].top_manager_id, None);
    assert_eq!(chain(&r["b"]), "b>a>ghost");
    assert_eq!(g.anomalies(), (1, 0));
}

#[test]
fn unsorted_and_repeated_ids_resolve() {
    // Lookup is by binary search over ids sorted apart from the input order.
    let g = graph(&[("zz", Some("aa")), ("mm", Some("zz")), ("aa", None), ("mm", Some("aa"))]);
    let r: Vec<OrgRow> = (0..g.len()).map(|i| g.row(i)).collect();
    assert_eq!(r[1].chain, vec!["mm", "zz", "aa"]);
    assert_eq!(r[3].depth, Some(1));
    assert_eq!(g.anomalies(), (0, 0));
}

#[test]
fn long_chains_are_cut_but_depth_is_exact() {
    let ids: Vec<String> = (0..3000).map(|i| format!("p{i}")).collect();
    let people: Vec<_> = (0..3000)
        .map(|i| (ids[i].as_str(), None, if i == 0 { None } else { Some(ids[i - 1].as_str()) }))
        .rev()
        .collect();
    let g = OrgGraph::from_records(people);
    let last = (0..g.len()).map(|i| g.row(i)).find(|r| r.id == "p2999").unwrap();
    assert_eq!(last.depth, Some(2999));
    assert_eq!(last.chain.len(), MAX_CHAIN);
    assert_eq!(last.top_manager_id.as_deref(), Some("p0"));
}

/// A random org: ids from a small pool (so some repeat), managers that are other
/// people, nobody (top), themselves, or an id nobody has; emails sometimes null.
fn random_people(seed: u64) -> Vec<Rec> {
    use rand::{Rng, SeedableRng};
    let mut r = rand::rngs::SmallRng::seed_from_u64(seed);
    let n = r.gen_range(1..60);
    let pool = n + r.gen_range(0..3);
    (0..n)
        .map(|_| {
            let id = format!("p{}", r.gen_range(0..pool));
            let email = r.gen_bool(0.9).then(|| format!("{id}@x.example"));
            let manager = match r.gen_range(0..10) {
                0..=1 => None,
                2 => Some(format!("ghost{}", r.gen_range(0..3))),
                _ => Some(format!("p{}", r.gen_range(0..pool))),
            };
            (id, email, manager)
        })
        .collect()
}

/// The rows by walking each chain on its own (quadratic; the definition, not the method).
fn naive_rows(people: &[Rec]) -> Vec<OrgRow> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, (id, _, _)) in people.iter().enumerate() {
        first.entry(id.as_str()).or_insert(i);
    }
    (0..people.len())
        .map(|i| {
            let (id, _, m) = &people[i];
            let mut chain = vec![id.clone()];
            let mut seen = vec![i];
            let mut cur = i;
            let (status, top) = loop {
                match &people[cur].2 {
                    None => break (ChainStatus::Ok, Some(people[cur].0.clone())),
                    Some(m) => match first.get(m.as_str()) {
                        None => {
                            chain.push(m.clone());
                            break (ChainStatus::Dangling, None);
                        }
                        Some(&k) => {
                            chain.push(people[k].0.clone());
                            if seen.contains(&k) {
                                break (ChainStatus::Cycle, None);
                            }
                            seen.push(k);
                            cur = k;
                        }
                    },
                }
            };
            let in_cycle = status == ChainStatus::Cycle && {
                // On the cycle: following managers comes back to this person.
                let mut v = i;
                (0..people.len()).any(|_| {
                    v = first[people[v].2.as_deref().expect("cycle")];
                    v == i
                })
            };
            let manager = m.as_ref().map(|m| first.get(m.as_str()));
            OrgRow {
                id: id.clone(),
                manager_id: m.clone(),
                manager_email: manager.flatten().and_then(|&k| people[k].1.clone()),
                depth: (status != ChainStatus::Cycle).then_some(chain.len() as i32 - 1),
                top_manager_id: top,
                chain,
                chain_status: status,
                manager_dangling: matches!(manager, Some(None)),
                in_cycle,
            }
        })
        .collect()
}

fn records(people: &[Rec]) -> Vec<(&str, Option<&str>, Option<&str>)> {
    people.iter().map(|(i, e, m)| (i.as_str(), e.as_deref(), m.as_deref())).collect()
}

#[test]
fn random_orgs_match_the_definition() {
    for seed in 0..300 {
        let people = random_people(seed);
        let g = OrgGraph::from_records(records(&people));
        let got: Vec<OrgRow> = (0..g.len()).map(|i| g.row(i)).collect();
        assert_eq!(got, naive_rows(&people), "seed {seed}: {people:?}");
    }
}

/// Personnel-like files (`id`, `email`, `manager_id`), split over two files and small
/// batches so reading back keeps the order across both.
fn write_files(dir: &Path, people: &[Rec]) -> Vec<PathBuf> {
    use arrow::array::StringArray;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("manager_id", DataType::Utf8, true),
    ]));
    let half = people.len() / 2;
    [&people[..half], &people[half..]]
        .iter()
        .enumerate()
        .map(|(n, part)| {
            let path = dir.join(format!("part-{n}.parquet"));
            let file = std::fs::File::create(&path).unwrap();
            let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
            for chunk in part.chunks(7) {
                let col = |f: &dyn Fn(&Rec) -> Option<String>| {
                    Arc::new(StringArray::from(chunk.iter().map(f).collect::<Vec<_>>())) as arrow::array::ArrayRef
                };
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![col(&|p| Some(p.0.clone())), col(&|p| p.1.clone()), col(&|p| p.2.clone())],
                )
                .unwrap();
                w.write(&batch).unwrap();
            }
            w.close().unwrap();
            path
        })
        .collect()
}

#[test]
fn holding_only_managers_gives_the_same_rows() {
    let tmp = tempfile::tempdir().unwrap();
    for seed in 0..40 {
        let people = random_people(seed);
        let files = write_files(tmp.path(), &people);
        let everyone = OrgGraph::from_personnel_files(&files).unwrap();
        let managers = OrgGraph::read(&files, false).unwrap();
        assert!(managers.ids.ends.len() <= people.len());
        let got: Vec<OrgRow> = (0..managers.len()).map(|i| managers.row_of(i, &people[i].0)).collect();
        let want: Vec<OrgRow> = (0..everyone.len()).map(|i| everyone.row(i)).collect();
        assert_eq!(got, want, "seed {seed}");
        assert_eq!(want, naive_rows(&people), "seed {seed}");
    }
}

#[test]
fn held_slots_count_the_people_before() {
    let mut bits = vec![0u64; 3];
    for i in [0u32, 5, 63, 64, 130, 191] {
        bits[i as usize / 64] |= 1 << (i % 64);
    }
    let held = Held::some(bits);
    let slots: Vec<Option<usize>> = [0u32, 1, 5, 63, 64, 65, 130, 191, 500].iter().map(|&i| held.slot(i)).collect();
    assert_eq!(slots, vec![Some(0), None, Some(1), Some(2), Some(3), None, Some(4), Some(5), None]);
    let mut t = Texts::default();
    t.push(Some("a"));
    t.push(None);
    t.push(Some(""));
    t.push(Some("bc"));
    assert_eq!((0..5).map(|k| t.get(k)).collect::<Vec<_>>(), vec![Some("a"), None, Some(""), Some("bc"), None]);
}
