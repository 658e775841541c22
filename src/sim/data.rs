//! Deterministic data generator for the simulator: every personnel record, training row,
//! background check and control is a pure function of `(seed, index)`.
//!
//! Nothing is stored per person, so a million-person workspace costs no memory and any
//! record can be produced in a few hundred nanoseconds, in any order, from any thread.
//! Ids encode their index (through a keyed, invertible 64-bit permutation) so
//! `GET /personnel/{id}` needs no lookup table either.
//!
//! The RNG is a hand-written SplitMix64 on purpose: `rand`'s small RNGs do not promise a
//! stable stream across versions, and "same seed, same data" must hold forever because
//! tests and benchmarks compare runs against it.
//!
//! This module owns the simulator's wire shape (camelCase, explicit nulls, odd values)
//! and must not know the client's models: a bug in the client cannot hide behind the same
//! bug here.

use serde::ser::{Serialize, SerializeMap, Serializer};

// ---------------------------------------------------------------------------------------
// Hashing and RNG
// ---------------------------------------------------------------------------------------

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 finaliser: a cheap, well-mixed 64-bit hash.
pub(crate) const fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of three words (seed, stream, counter).
pub(crate) const fn hash3(a: u64, b: u64, c: u64) -> u64 {
    mix64(mix64(mix64(a) ^ b) ^ c)
}

/// Uniform float in [0, 1) from a hash value.
pub(crate) fn unit_f64(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A SplitMix64 stream, seeded per (seed, stream, index).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64, stream: u64, index: u64) -> Self {
        Rng(hash3(seed, stream, index))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift (no modulo bias worth caring about).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub(crate) fn unit(&mut self) -> f64 {
        unit_f64(self.next_u64())
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Pick from `(weight, value)` pairs.
    pub(crate) fn weighted<T: Copy>(&mut self, items: &[(u32, T)]) -> T {
        let total: u32 = items.iter().map(|(w, _)| *w).sum();
        let mut r = self.below(u64::from(total)) as u32;
        for (w, v) in items {
            if r < *w {
                return *v;
            }
            r -= w;
        }
        items[items.len() - 1].1
    }
}

// Streams keep the draws of different record kinds independent of each other.
const STREAM_PERSON: u64 = 1;
const STREAM_TRAINING: u64 = 2;
const STREAM_BGCHECK: u64 = 3;
const STREAM_CONTROL: u64 = 4;
const STREAM_ID: u64 = 5;
/// The real dialects' devices (`sim::real`).
const STREAM_DEVICE: u64 = 17;

// ---------------------------------------------------------------------------------------
// Ids: a keyed invertible permutation of the index, packed into a version-4 UUID
// ---------------------------------------------------------------------------------------

const K1: u64 = 0xD6E8_FEB8_6659_FD93;
const K2: u64 = 0xA076_1D64_78BD_642F | 1;

/// Multiplicative inverse of an odd number modulo 2^64 (Newton's iteration).
const fn inverse(k: u64) -> u64 {
    let mut inv = k; // correct to 3 bits since k*k == 1 (mod 8)
    let mut i = 0;
    while i < 5 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(k.wrapping_mul(inv)));
        i += 1;
    }
    inv
}

const K1_INV: u64 = inverse(K1);
const K2_INV: u64 = inverse(K2);

/// Bijective mix; shifts of 32 make each xorshift step its own inverse.
const fn permute(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(K1);
    x ^= x >> 32;
    x = x.wrapping_mul(K2);
    x ^ (x >> 32)
}

const fn unpermute(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(K2_INV);
    x ^= x >> 32;
    x = x.wrapping_mul(K1_INV);
    x ^ (x >> 32)
}

// ---------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------

/// (display, ascii-for-email). Deliberately mixes in non-ASCII and punctuation.
const FIRST_NAMES: &[(&str, &str)] = &[
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("François", "francois"),
    ("Björn", "bjorn"),
    ("Siobhán", "siobhan"),
    ("伟", "wei"),
    ("Chloé", "chloe"),
    ("Ana", "ana"),
    ("Priya", "priya"),
    ("Olivia", "olivia"),
    ("Liam", "liam"),
    ("Emma", "emma"),
    ("Noah", "noah"),
    ("Ava", "ava"),
    ("Mateo", "mateo"),
    ("Sofia", "sofia"),
    ("James", "james"),
    ("Fatima", "fatima"),
    ("Yuki", "yuki"),
    ("Kwame", "kwame"),
    ("Ingrid", "ingrid"),
    ("Dmitri", "dmitri"),
    ("Aisha", "aisha"),
    ("Lucas", "lucas"),
    ("Mia", "mia"),
    ("Ethan", "ethan"),
    ("Hannah", "hannah"),
    ("Omar", "omar"),
    ("Sarah", "sarah"),
    ("Michael", "michael"),
    ("Emily", "emily"),
    ("Daniel", "daniel"),
    ("Grace", "grace"),
    ("David", "david"),
    ("Laura", "laura"),
    ("Raj", "raj"),
    ("Nia", "nia"),
    ("Mary-Kate", "marykate"),
];

const LAST_NAMES: &[(&str, &str)] = &[
    ("García", "garcia"),
    ("O'Brien", "obrien"),
    ("王", "wang"),
    ("Müller", "muller"),
    ("Nowak", "nowak"),
    ("Kowalczyk", "kowalczyk"),
    ("Jørgensen", "jorgensen"),
    ("Martínez", "martinez"),
    ("Nguyễn", "nguyen"),
    ("Yılmaz", "yilmaz"),
    ("Novák", "novak"),
    ("van der Berg", "vanderberg"),
    ("Al-Sayed", "alsayed"),
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Jones", "jones"),
    ("Miller", "miller"),
    ("Davis", "davis"),
    ("Lopez", "lopez"),
    ("Kim", "kim"),
    ("Patel", "patel"),
    ("Singh", "singh"),
    ("Tanaka", "tanaka"),
    ("Sato", "sato"),
    ("Andersen", "andersen"),
    ("Dubois", "dubois"),
    ("Rossi", "rossi"),
    ("Silva", "silva"),
    ("Okafor", "okafor"),
    ("Mensah", "mensah"),
    ("Ivanov", "ivanov"),
    ("Cohen", "cohen"),
    ("Murphy", "murphy"),
    ("Schmidt", "schmidt"),
    ("Lindqvist", "lindqvist"),
    ("Taylor", "taylor"),
    ("Walker", "walker"),
    ("Chen", "chen"),
];

const DEPARTMENTS: &[(&str, &[&str])] = &[
    (
        "Engineering",
        &[
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "Engineering Manager",
            "Site Reliability Engineer",
            "QA Engineer",
        ],
    ),
    ("Security", &["Security Engineer", "Security Analyst", "CISO", "GRC Analyst"]),
    ("Sales", &["Account Executive", "Sales Development Rep", "Sales Manager"]),
    ("Marketing", &["Marketing Manager", "Content Strategist", "Product Marketing Manager"]),
    ("Finance", &["Accountant", "Financial Analyst", "Controller"]),
    ("People", &["HR Business Partner", "Recruiter", "People Operations Manager"]),
    ("Product", &["Product Manager", "Product Designer", "UX Researcher"]),
    ("Customer Success", &["Customer Success Manager", "Support Engineer"]),
    ("Legal", &["Counsel", "Paralegal"]),
    ("IT", &["IT Administrator", "Help Desk Technician"]),
];

const LOCATIONS: &[&str] = &["Berlin", "London", "New York", "São Paulo", "東京", "Kraków"];

const COURSES: &[&str] = &[
    "Security Awareness",
    "Privacy Training",
    "HIPAA Training",
    "Secure Coding",
    "Acceptable Use Policy",
    "Phishing Simulation",
];

const CONTROL_NAMES: &[&str] = &[
    "Access Control",
    "Encryption at Rest",
    "Encryption in Transit",
    "Security Awareness Training",
    "Background Checks",
    "Vendor Management",
    "Incident Response Plan",
    "Business Continuity Plan",
    "Disaster Recovery Testing",
    "Change Management",
    "Code Review",
    "Vulnerability Scanning",
    "Penetration Testing",
    "Logging and Monitoring",
    "Multi-Factor Authentication",
    "Password Policy",
    "Asset Inventory",
    "Data Classification",
    "Data Retention",
    "Offboarding Access Removal",
    "Quarterly Access Reviews",
    "Endpoint Protection",
    "Network Segmentation",
    "Firewall Configuration",
    "Backup Restoration Testing",
    "Risk Assessment",
    "Code of Conduct Acknowledgement",
    "Acceptable Use Policy Acknowledgement",
    "Secure Development Lifecycle",
    "Production Access Approval",
];

// ---------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------

/// Days since 1970-01-01 -> (y, m, d), civil calendar (Howard Hinnant's algorithm).
/// Hand-rolled to stay allocation- and error-free on the hot path.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// 2012-01-01 and 2025-09-30 as days since the epoch: the span start dates are drawn from.
const DAY_2012_01_01: i64 = 15_340;
const DAY_2025_09_30: i64 = 20_361;

pub(crate) fn date_string(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A date, occasionally rendered as a date-time (the guide documents dates; Drata's real
/// API sends date-times, and a client must survive both).
fn date_value(rng: &mut Rng, days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    if rng.chance(0.015) {
        if rng.chance(0.5) {
            format!("{y:04}-{m:02}-{d:02}T09:00:00Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T00:00:00.000Z")
        }
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

// ---------------------------------------------------------------------------------------
// Wire records
// ---------------------------------------------------------------------------------------

/// An optional wire field: left out, sent as an explicit `null`, or sent with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Opt<T> {
    Absent,
    Null,
    Val(T),
}

#[cfg(test)]
impl<T> Opt<T> {
    pub(crate) fn as_val(&self) -> Option<&T> {
        match self {
            Opt::Val(v) => Some(v),
            _ => None,
        }
    }
}

fn put_opt<M: SerializeMap, T: Serialize>(map: &mut M, key: &'static str, v: &Opt<T>) -> Result<(), M::Error> {
    match v {
        Opt::Absent => Ok(()),
        Opt::Null => map.serialize_entry(key, &()),
        Opt::Val(v) => map.serialize_entry(key, v),
    }
}

/// The server-computed training summary (`trainingStatus`); its shape is undocumented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TrainingSummary {
    pub completed: u32,
    pub assigned: u32,
    pub overdue: u32,
}

impl Serialize for TrainingSummary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("completed", &self.completed)?;
        m.serialize_entry("assigned", &self.assigned)?;
        m.serialize_entry("overdue", &self.overdue)?;
        m.end()
    }
}

/// One personnel record as the guide dialect puts it on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: String,
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub title: Opt<&'static str>,
    pub department: Opt<&'static str>,
    pub employment_type: Opt<&'static str>,
    pub start_date: Opt<String>,
    pub end_date: Opt<String>,
    pub is_active: bool,
    pub role: &'static str,
    pub manager_id: Opt<String>,
    pub compliance_status: &'static str,
    pub training_status: TrainingSummary,
    pub external_id: Opt<String>,
    /// An undocumented field, so clients prove they keep unknown fields.
    pub extra: Option<(&'static str, &'static str)>,
}

impl Serialize for Person {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("email", &self.email)?;
        m.serialize_entry("firstName", self.first_name)?;
        m.serialize_entry("lastName", self.last_name)?;
        put_opt(&mut m, "title", &self.title)?;
        put_opt(&mut m, "department", &self.department)?;
        put_opt(&mut m, "employmentType", &self.employment_type)?;
        put_opt(&mut m, "startDate", &self.start_date)?;
        put_opt(&mut m, "endDate", &self.end_date)?;
        m.serialize_entry("isActive", &self.is_active)?;
        m.serialize_entry("role", self.role)?;
        put_opt(&mut m, "managerId", &self.manager_id)?;
        m.serialize_entry("complianceStatus", self.compliance_status)?;
        m.serialize_entry("trainingStatus", &self.training_status)?;
        put_opt(&mut m, "externalId", &self.external_id)?;
        if let Some((k, v)) = self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One row of `GET /personnel/{id}/training`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Training {
    pub name: &'static str,
    pub status: &'static str,
    pub completed_at: Option<String>,
}

impl Serialize for Training {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("name", self.name)?;
        m.serialize_entry("status", self.status)?;
        m.serialize_entry("completedAt", &self.completed_at)?;
        m.end()
    }
}

/// One row of `GET /personnel/{id}/background-checks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackgroundCheck {
    pub status: &'static str,
    pub completed_at: Option<String>,
}

impl Serialize for BackgroundCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("status", self.status)?;
        m.serialize_entry("completedAt", &self.completed_at)?;
        m.end()
    }
}

/// One row of `GET /controls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Control {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub owner_id: Option<String>,
}

impl Serialize for Control {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("status", self.status)?;
        m.serialize_entry("ownerId", &self.owner_id)?;
        m.end()
    }
}

// ---------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------

/// Produces records from `(seed, index)`. Indices `0..base` are the initial workspace;
/// indices at and above `base` are people created later (drift inserts, `add_person`).
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    seed: u64,
    base: u64,
    id_key: u64,
}

impl Generator {
    pub(crate) fn new(seed: u64, base: u64) -> Self {
        Generator { seed, base, id_key: hash3(seed, STREAM_ID, 0) }
    }

    fn id_words(&self, index: u64) -> (u64, u64) {
        let x = permute(index ^ self.id_key);
        let filler = hash3(self.seed, STREAM_ID, x);
        let filler2 = mix64(filler);
        let hi = (x & 0xFFFF_FFFF_0000_0000) | (filler & 0x0000_0000_FFFF_0FFF) | 0x4000;
        let lo = 0x8000_0000_0000_0000 | (filler2 & 0x3FFF_FFFF_0000_0000) | (x & 0xFFFF_FFFF);
        (hi, lo)
    }

    /// The random stream of person `index`'s devices (`sim::real`).
    pub(crate) fn device_rng(&self, index: u64) -> Rng {
        Rng::new(self.seed, STREAM_DEVICE, index)
    }

    /// The person's UUID (lower-case, hyphenated, version 4 layout).
    pub(crate) fn person_id(&self, index: u64) -> String {
        let (hi, lo) = self.id_words(index);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }

    /// The index an id was generated for, if it is one of this seed's ids. Existence (the
    /// index was created and not deleted) is the caller's business.
    pub(crate) fn index_of(&self, id: &str) -> Option<u64> {
        let b = id.as_bytes();
        if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return None;
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            let d = (c as char).to_digit(16)?;
            v = (v << 4) | u128::from(d);
        }
        let hi = (v >> 64) as u64;
        let lo = v as u64;
        let x = (hi & 0xFFFF_FFFF_0000_0000) | (lo & 0xFFFF_FFFF);
        let index = unpermute(x) ^ self.id_key;
        (self.id_words(index) == (hi, lo)).then_some(index)
    }

    /// The personnel record for `index`.
    pub(crate) fn person(&self, index: u64) -> Person {
        let mut r = Rng::new(self.seed, STREAM_PERSON, index);
        let (first_name, first_ascii) = r.pick(FIRST_NAMES);
        let (last_name, last_ascii) = r.pick(LAST_NAMES);
        // The index suffix makes emails unique; names never contain digits, so
        // `first.last<digits>` cannot collide across indices.
        let email = format!("{first_ascii}.{last_ascii}{index}@acme-corp.example");

        let (dept, titles) = r.pick(DEPARTMENTS);
        let department = match r.below(100) {
            0 => Opt::Null,
            1..=2 => Opt::Absent,
            _ => Opt::Val(dept),
        };
        let title = match r.below(100) {
            0 => Opt::Null,
            1..=3 => Opt::Absent,
            _ => Opt::Val(r.pick(titles)),
        };
        let employment_type = match r.below(1000) {
            0..=2 => Opt::Val("INTERN"), // not in the guide's enum: must survive as data
            3..=12 => Opt::Null,
            13..=49 => Opt::Absent,
            50..=169 => Opt::Val("CONTRACTOR"),
            170..=249 => Opt::Val("PART_TIME"),
            _ => Opt::Val("FULL_TIME"),
        };

        let is_new = index >= self.base;
        let span = (DAY_2025_09_30 - 30 - DAY_2012_01_01) as u64;
        let start_day =
            if is_new { DAY_2025_09_30 - r.below(30) as i64 } else { DAY_2012_01_01 + r.below(span) as i64 };
        let start_date = if r.chance(0.01) { Opt::Absent } else { Opt::Val(date_value(&mut r, start_day)) };

        let is_active = !r.chance(0.10);
        let end_date = if is_active {
            if r.chance(0.01) {
                Opt::Null
            } else {
                Opt::Absent
            }
        } else {
            // ~60% of leavers are fully offboarded with an endDate; the rest are the
            // "inactive without endDate" compliance gap the guide warns about.
            match r.below(10) {
                0..=5 => {
                    let end = (start_day + 30 + r.below(2000) as i64).min(DAY_2025_09_30);
                    Opt::Val(date_value(&mut r, end))
                }
                6 => Opt::Null,
                _ => Opt::Absent,
            }
        };

        let role = r.weighted(&[(5, "ADMIN"), (3, "AUDITOR"), (92, "MEMBER")]);

        // Managers are always earlier people (acyclic by construction); the bias towards
        // low indices gives a shallow, wide tree like a real org chart.
        let manager_index = if index == 0 || r.chance(0.02) {
            None
        } else {
            let u = r.unit();
            let m = ((index as f64) * u * u * u) as u64;
            Some(m.min(index - 1))
        };
        let manager_id = match manager_index {
            Some(m) => Opt::Val(self.person_id(m)),
            None if r.chance(0.5) => Opt::Null,
            None => Opt::Absent,
        };

        let compliance_status = if is_new {
            "PENDING" // computed asynchronously: new records start out PENDING
        } else {
            r.weighted(&[(70, "COMPLIANT"), (20, "NON_COMPLIANT"), (10, "PENDING")])
        };

        let external_id = match r.below(100) {
            0 => Opt::Null,
            1..=8 => Opt::Absent,
            _ => Opt::Val(format!("HR-{index:06}")),
        };
        let extra = if r.chance(0.03) { Some(("location", r.pick(LOCATIONS))) } else { None };

        Person {
            id: self.person_id(index),
            email,
            first_name,
            last_name,
            title,
            department,
            employment_type,
            start_date,
            end_date,
            is_active,
            role,
            manager_id,
            compliance_status,
            training_status: summarize(&self.trainings(index)),
            external_id,
            extra,
        }
    }

    /// 0–4 training rows; a retake of a course is a separate row with a later date.
    pub(crate) fn trainings(&self, index: u64) -> Vec<Training> {
        let mut r = Rng::new(self.seed, STREAM_TRAINING, index);
        let n = r.weighted(&[(10, 0usize), (20, 1), (30, 2), (25, 3), (15, 4)]);
        let mut out: Vec<Training> = Vec::with_capacity(n);
        let mut day = DAY_2012_01_01 + 365 * 9 + r.below(365) as i64;
        for _ in 0..n {
            let name = if !out.is_empty() && r.chance(0.25) {
                out[r.below(out.len() as u64) as usize].name
            } else {
                r.pick(COURSES)
            };
            let status = r.weighted(&[(60, "COMPLETED"), (12, "IN_PROGRESS"), (13, "NOT_STARTED"), (15, "EXPIRED")]);
            // Strictly increasing dates keep retakes distinguishable.
            day += 30 + r.below(200) as i64;
            let completed_at = match status {
                "COMPLETED" | "EXPIRED" => Some(date_value(&mut r, day.min(DAY_2025_09_30))),
                _ => None,
            };
            out.push(Training { name, status, completed_at });
        }
        out
    }

    /// 0–2 background checks.
    pub(crate) fn background_checks(&self, index: u64) -> Vec<BackgroundCheck> {
        let mut r = Rng::new(self.seed, STREAM_BGCHECK, index);
        let n = r.weighted(&[(15, 0usize), (70, 1), (15, 2)]);
        (0..n)
            .map(|_| {
                let status = r.weighted(&[(75, "PASSED"), (5, "FAILED"), (10, "PENDING"), (10, "IN_PROGRESS")]);
                let completed_at = match status {
                    "PASSED" | "FAILED" => {
                        Some(date_string(DAY_2012_01_01 + r.below((DAY_2025_09_30 - DAY_2012_01_01) as u64) as i64))
                    }
                    _ => None,
                };
                BackgroundCheck { status, completed_at }
            })
            .collect()
    }

    /// `count` controls owned by people among the first `personnel` indices. The pattern
    /// of unowned controls and controls owned by an inactive person is fixed (by position)
    /// so every workspace of 20+ controls has some of each.
    pub(crate) fn controls(&self, count: usize, personnel: u64) -> Vec<Control> {
        (0..count as u64)
            .map(|k| {
                let mut r = Rng::new(self.seed, STREAM_CONTROL, k);
                let base_name = CONTROL_NAMES[(k as usize) % CONTROL_NAMES.len()];
                let round = k as usize / CONTROL_NAMES.len();
                let name = if round == 0 { base_name.to_string() } else { format!("{base_name} ({})", round + 1) };
                let status = r.weighted(&[(65, "PASSING"), (15, "FAILING"), (20, "NEEDS_ATTENTION")]);
                let owner = if personnel == 0 || k % 20 == 7 {
                    None
                } else if k % 20 == 13 {
                    let start = r.below(personnel);
                    (0..personnel.min(5000))
                        .map(|o| (start + o) % personnel)
                        .find(|&i| !self.person(i).is_active)
                        .or(Some(start))
                } else {
                    Some(r.below(personnel))
                };
                Control { id: format!("DCF-{}", k + 1), name, status, owner_id: owner.map(|i| self.person_id(i)) }
            })
            .collect()
    }
}

fn summarize(trainings: &[Training]) -> TrainingSummary {
    let mut names: Vec<&str> = trainings.iter().map(|t| t.name).collect();
    names.sort_unstable();
    names.dedup();
    let completed = names.iter().filter(|n| trainings.iter().any(|t| t.name == **n && t.status == "COMPLETED")).count();
    let overdue = trainings.iter().filter(|t| t.status == "EXPIRED").count();
    TrainingSummary { completed: completed as u32, assigned: names.len() as u32, overdue: overdue as u32 }
}

#[cfg(test)]
mod tests;
