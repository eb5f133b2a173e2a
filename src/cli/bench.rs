//! `credlist bench`: load generators against a running daemon, the same
//! load against Redis, and the listed codes of a generated data set.
//!
//! Every run is bounded in time, prints a human report and, last, one
//! `RESULT key=value …` line for scripts; it exits 1 when anything failed
//! (an error answer, a closed connection, a wrong count, a wrong flag).

use super::{parse_day, Outcome};
use anyhow::Context;
use credlist::check::{batch_flags, Ctx, Holds};
use credlist::date::Day;
use credlist::loadgen::stats::{
    failure_lines, grouped, result_line, Percentiles, Stats, MIN_LISTED_PCT,
};
use credlist::loadgen::{check, parse_duration, pipeline, CodeSet, Pool};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(clap::Subcommand, Debug)]
enum Mode {
    /// Frames of codes on the batch socket, pipelined: codes/s and frame latency.
    Batch(BatchArgs),
    /// POST /v1/check at a target rate (open loop): request latency percentiles.
    Check(CheckArgs),
    /// The frames of `batch` as Redis SMISMEMBER commands on a Redis Unix socket.
    Redis(RedisArgs),
    /// Print the listed codes of a generated data set, one per line.
    Codes(CodesArgs),
}

/// The generated data set the daemon serves (`credlist gen`).
#[derive(clap::Args, Debug)]
struct DataArgs {
    /// Seed the data set was generated with (`credlist gen --seed`).
    #[arg(long, default_value_t = 1)]
    snapshot_seed: u64,
    /// Entries in the data set (`credlist gen --entries`).
    #[arg(long)]
    entries: u64,
}

impl DataArgs {
    fn codes(&self) -> anyhow::Result<CodeSet> {
        CodeSet::new(self.snapshot_seed, self.entries).map_err(anyhow::Error::msg)
    }
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a ratio from 0 to 1")),
    }
}

/// Pipelined frames: shared by `batch` and `redis`.
#[derive(clap::Args, Debug)]
struct FrameArgs {
    /// Unix socket to send the frames to.
    #[arg(long)]
    socket: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Codes per frame.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    frame: u32,
    /// Share of codes that are listed (the rest are valid and unlisted).
    #[arg(long, default_value_t = 0.5, value_parser = parse_ratio)]
    hit_ratio: f64,
    /// Connections.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Frames sent and not yet answered, per connection.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    in_flight: u32,
    /// Measured time (default 10s, at most 10m); with --frames, the time
    /// limit of the run (default 60s).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Send this many frames in all, then stop (no warm-up).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    /// Time before the measured window: answers are verified, not measured.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Codes drawn for the run, sent round robin (rounded down to whole frames).
    #[arg(long, default_value_t = 1 << 20)]
    pool: usize,
    /// A frame unanswered this long is a failure.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
}

#[derive(clap::Args, Debug)]
pub struct BatchArgs {
    #[command(flatten)]
    f: FrameArgs,
    /// Matter of the frames (measure flags); empty: lists only.
    #[arg(long, default_value = "")]
    matter: String,
    /// Date of the check (default: the snapshot's data date with
    /// --snapshot, else the daemon's today).
    #[arg(long, value_parser = parse_day)]
    as_of: Option<Day>,
    /// The snapshot the daemon serves: every answer is then compared with
    /// the flags computed here (else: unlisted codes must be 0, listed ones
    /// answered).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Batch protocol version of the frames: 1 (u8 flags) or 2 (u16 flags
    /// with the RELATED bits, SPEC §8).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    version: u8,
}

#[derive(clap::Args, Debug)]
pub struct RedisArgs {
    #[command(flatten)]
    f: FrameArgs,
    /// Key of the Redis set holding the listed codes.
    #[arg(long, default_value = "credlist:codes")]
    key: String,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The daemon's check socket.
    #[arg(long, required_unless_present = "tcp", conflicts_with = "tcp")]
    socket: Option<PathBuf>,
    /// The daemon's loopback TCP listener instead of the socket.
    #[arg(long)]
    tcp: Option<String>,
    /// Bearer token for --tcp.
    #[arg(long, requires = "tcp")]
    token: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Requests per second, all connections together.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
    /// Keep-alive connections; each sends rate / connections requests a second.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Measured time (at most 10m).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    /// Time before the measured window: answers are verified, not measured.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Subjects per request (applicant, legal representative, …).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=5))]
    codes_per_request: u32,
    /// Matter of the checks.
    #[arg(long, default_value = "gov_procurement")]
    matter: String,
    /// Date of the checks (default: the daemon's today).
    #[arg(long, value_parser = parse_day)]
    as_of: Option<Day>,
    /// Share of codes that are listed (the rest are valid and unlisted).
    #[arg(long, default_value_t = 0.5, value_parser = parse_ratio)]
    hit_ratio: f64,
    /// Codes drawn for the run, sent round robin.
    #[arg(long, default_value_t = 1 << 18)]
    pool: usize,
    /// A request unanswered this long is a failure.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
}

#[derive(clap::Args, Debug)]
pub struct CodesArgs {
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(a: BenchArgs) -> Outcome {
    match a.mode {
        Mode::Batch(a) => batch(a),
        Mode::Check(a) => check_mode(a),
        Mode::Redis(a) => redis(a),
        Mode::Codes(a) => codes(a),
    }
}

/// A single-threaded runtime: the load generator takes one core at most,
/// and leaves the others to what it measures.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// User and system CPU seconds this process has used.
fn cpu_seconds() -> (f64, f64) {
    credlist::os::cpu_times().map_or((0.0, 0.0), |(u, s)| (u.as_secs_f64(), s.as_secs_f64()))
}

/// The client's own CPU over a run: (user s, system s, percent of one core).
struct ClientCpu(f64, f64, f64);

/// Runs `f` and measures this process's CPU meanwhile.
fn measured_cpu<T>(f: impl FnOnce() -> T) -> (T, ClientCpu) {
    let (u0, s0) = cpu_seconds();
    let t0 = std::time::Instant::now();
    let out = f();
    let (u1, s1) = cpu_seconds();
    let wall = t0.elapsed().as_secs_f64().max(1e-9);
    let (u, s) = (u1 - u0, s1 - s0);
    (out, ClientCpu(u, s, 100.0 * (u + s) / wall))
}

fn print_client_cpu(o: &mut impl Write, c: &ClientCpu) -> std::io::Result<()> {
    writeln!(
        o,
        "  client cpu   {:.2} s user + {:.2} s system ({:.0}% of one core; the rest of the machine is the server's, or other work's)",
        c.0, c.1, c.2
    )
}

/// Time limit of a `--frames` run without `--duration`.
const FRAMES_TIME_LIMIT: Duration = Duration::from_secs(60);

impl FrameArgs {
    fn options(&self) -> pipeline::Options {
        pipeline::Options {
            socket: self.socket.clone(),
            connections: self.connections as usize,
            in_flight: self.in_flight as usize,
            duration: self.duration.unwrap_or(if self.frames.is_some() {
                FRAMES_TIME_LIMIT
            } else {
                Duration::from_secs(10)
            }),
            warmup: self.warmup,
            frames: self.frames,
            answer_timeout: self.timeout,
        }
    }

    /// The pool: `--pool` codes rounded down to whole frames, and no more
    /// frames than a `--frames` run sends.
    fn pool(&self, set: &CodeSet) -> Pool {
        let frame = self.frame as usize;
        let mut frames = (self.pool / frame).max(1);
        if let Some(k) = self.frames {
            frames = frames.min(k as usize);
        }
        Pool::draw(set, frames * frame, self.hit_ratio)
    }
}

fn batch(a: BatchArgs) -> Outcome {
    let set = a.f.data.codes()?;
    let pool = a.f.pool(&set);
    let snap = match &a.snapshot {
        Some(p) => Some(super::open_snapshot(p)?),
        None => None,
    };
    let as_of = a.as_of.or(snap.as_ref().map(|s| s.data_date));
    let exact = match &snap {
        Some(s) => {
            let matter = if a.matter.is_empty() {
                None
            } else {
                Some(s.catalog.matter_index(&a.matter).with_context(|| {
                    format!("matter {:?} is not in the snapshot's catalog", a.matter)
                })?)
            };
            let holds = Holds::default();
            let ctx = Ctx {
                snap: s,
                holds: &holds,
                day: as_of.unwrap_or_else(Day::today),
                matter,
                persons: true,
            };
            let mut out = vec![0u8; pool.len()];
            batch_flags(&ctx, &pool.codes, &mut out);
            Some(out)
        }
        None => None,
    };
    drop(snap);
    let proto = pipeline::CredlistBatch {
        matter: a.matter.clone(),
        as_of: as_of.map_or(0, |d| d.to_u32()),
        version: credlist::wire::batch::Version::from_byte(a.version)
            .context("--version must be 1 or 2")?,
    };
    let opts = a.f.options();
    let rt = runtime()?;
    let (out, cpu) = measured_cpu(|| {
        rt.block_on(pipeline::run(
            Arc::new(proto),
            Arc::new(pool),
            exact.clone(),
            a.f.frame as usize,
            opts.clone(),
        ))
    });
    let what = format!(
        "credlist bench batch: {} ({} connections × {} frames in flight, frames of {} codes, {:.0}% listed, {}, {}{})",
        a.f.socket.display(),
        opts.connections,
        opts.in_flight,
        out.codes_per_frame,
        a.f.hit_ratio * 100.0,
        if a.matter.is_empty() { "lists only".to_string() } else { format!("matter {}", a.matter) },
        as_of.map_or("as of the daemon's today".to_string(), |d| format!("as of {d}")),
        if exact.is_some() { ", answers compared with the snapshot" } else { "" },
    );
    report_frames("batch", &what, out, cpu, &opts, a.f.hit_ratio, true)
}

fn redis(a: RedisArgs) -> Outcome {
    let set = a.f.data.codes()?;
    let pool = a.f.pool(&set);
    let proto = pipeline::RedisSmismember { key: a.key.clone() };
    let opts = a.f.options();
    let rt = runtime()?;
    let (out, cpu) = measured_cpu(|| {
        rt.block_on(pipeline::run(
            Arc::new(proto),
            Arc::new(pool),
            None,
            a.f.frame as usize,
            opts.clone(),
        ))
    });
    let what = format!(
        "credlist bench redis: {} (SMISMEMBER {}; {} connections × {} commands in flight, {} codes each, {:.0}% members)",
        a.f.socket.display(),
        a.key,
        opts.connections,
        opts.in_flight,
        out.codes_per_frame,
        a.f.hit_ratio * 100.0
    );
    report_frames("redis", &what, out, cpu, &opts, a.f.hit_ratio, false)
}

/// Prints the report of a pipelined run; exit 1 on any failure.
fn report_frames(
    mode: &str,
    what: &str,
    out: pipeline::Outcome,
    cpu: ClientCpu,
    opts: &pipeline::Options,
    hit_ratio: f64,
    judge_listed_share: bool,
) -> Outcome {
    let mut st = out.stats;
    if judge_listed_share {
        st.check_listed_share(MIN_LISTED_PCT);
    }
    let secs = out.measured.as_secs_f64().max(1e-9);
    let codes_per_s = st.codes as f64 / secs;
    let frames_per_s = st.answers as f64 / secs;
    let p = Percentiles::of(&st.latency);
    let mut o = std::io::stdout().lock();
    writeln!(o, "{what}")?;
    match opts.frames {
        Some(k) => writeln!(o, "  run          {k} frames in {:.3} s", secs)?,
        None => writeln!(
            o,
            "  run          {:.3} s measured after {:.1} s of warm-up",
            secs,
            opts.warmup.as_secs_f64()
        )?,
    }
    writeln!(
        o,
        "  throughput   {} codes/s, {:.1} frames/s ({} codes in {} frames)",
        grouped(codes_per_s as u64),
        frames_per_s,
        grouped(st.codes),
        grouped(st.answers)
    )?;
    writeln!(o, "  frame time   {}", p.human())?;
    print_client_cpu(&mut o, &cpu)?;
    print_verified(&mut o, &st)?;
    print_failures(&mut o, &st)?;
    let mut fields = vec![
        ("mode", mode.to_string()),
        ("codes_per_s", format!("{codes_per_s:.0}")),
        ("frames_per_s", format!("{frames_per_s:.1}")),
    ];
    p.fields(&mut fields);
    fields.extend([
        ("failures", st.failures.total().to_string()),
        ("connections", opts.connections.to_string()),
        ("in_flight", opts.in_flight.to_string()),
        ("frame", out.codes_per_frame.to_string()),
        ("hit_ratio", hit_ratio.to_string()),
        ("frames", st.answers.to_string()),
        ("codes", st.codes.to_string()),
        ("listed_pct", format!("{:.1}", st.listed_pct())),
        ("client_cpu_pct", format!("{:.0}", cpu.2)),
        ("duration_s", format!("{secs:.3}")),
    ]);
    writeln!(o, "{}", result_line(&fields))?;
    Ok(exit(&st))
}

fn print_verified(o: &mut impl Write, st: &Stats) -> std::io::Result<()> {
    writeln!(
        o,
        "  verified     {} answers: {} listed codes ({:.1}% answered as listed), {} unlisted",
        grouped(st.verified),
        grouped(st.hits),
        st.listed_pct(),
        grouped(st.misses)
    )
}

fn print_failures(o: &mut impl Write, st: &Stats) -> std::io::Result<()> {
    writeln!(o, "  failures     {}", st.failures.total())?;
    for l in failure_lines(&st.failures) {
        writeln!(o, "  {l}")?;
    }
    Ok(())
}

fn exit(st: &Stats) -> ExitCode {
    if st.failures.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn check_mode(a: CheckArgs) -> Outcome {
    if !(a.rate.is_finite() && a.rate > 0.0 && a.rate <= 1e7) {
        anyhow::bail!("--rate must be a number of requests per second from 0 to 10000000");
    }
    let set = a.data.codes()?;
    let pool = Pool::draw(&set, a.pool.max(a.codes_per_request as usize), a.hit_ratio);
    let target = match (&a.socket, &a.tcp) {
        (Some(p), _) => check::Target::Unix(p.clone()),
        (None, Some(addr)) => check::Target::Tcp {
            addr: addr.clone(),
            token: a.token.clone(),
        },
        (None, None) => anyhow::bail!("--socket or --tcp is required"),
    };
    let opts = check::Options {
        target: target.clone(),
        rate: a.rate,
        connections: a.connections as usize,
        duration: a.duration,
        warmup: a.warmup,
        codes_per_request: a.codes_per_request as usize,
        matter: a.matter.clone(),
        as_of: a.as_of,
        answer_timeout: a.timeout,
    };
    let rt = runtime()?;
    let (out, cpu) = measured_cpu(|| rt.block_on(check::run(Arc::new(pool), opts)));
    let mut st = out.stats;
    st.check_listed_share(MIN_LISTED_PCT);
    let secs = out.measured.as_secs_f64().max(1e-9);
    let achieved = st.answers as f64 / secs;
    let p = Percentiles::of(&st.latency);
    let lag = Percentiles::of(&out.send_lag);
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "credlist bench check: {target} (POST /v1/check, {} subjects a request, matter {}, {:.0}% listed, {} keep-alive connections, open loop)",
        a.codes_per_request,
        a.matter,
        a.hit_ratio * 100.0,
        a.connections
    )?;
    writeln!(
        o,
        "  run          {:.3} s measured after {:.1} s of warm-up",
        secs,
        a.warmup.as_secs_f64()
    )?;
    writeln!(
        o,
        "  rate         {:.0} requests/s answered of {:.0} asked ({} answered, {} never sent)",
        achieved,
        a.rate,
        grouped(st.answers),
        grouped(out.unsent)
    )?;
    writeln!(o, "  latency      {}", p.human())?;
    writeln!(
        o,
        "  send lag     p50 {:.1}  p99 {:.1}  max {:.1} µs (client wake-up delay on idle connections, not in the latency)",
        lag.p50, lag.p99, lag.max
    )?;
    print_client_cpu(&mut o, &cpu)?;
    print_verified(&mut o, &st)?;
    print_failures(&mut o, &st)?;
    let mut fields = vec![
        ("mode", "check".to_string()),
        ("target_rps", format!("{:.0}", a.rate)),
        ("achieved_rps", format!("{achieved:.0}")),
        ("requests", st.answers.to_string()),
    ];
    p.fields(&mut fields);
    fields.extend([
        ("failures", st.failures.total().to_string()),
        ("connections", a.connections.to_string()),
        ("codes_per_request", a.codes_per_request.to_string()),
        ("unsent", out.unsent.to_string()),
        ("send_lag_p99_us", format!("{:.1}", lag.p99)),
        ("listed_pct", format!("{:.1}", st.listed_pct())),
        ("client_cpu_pct", format!("{:.0}", cpu.2)),
        ("duration_s", format!("{secs:.3}")),
    ]);
    writeln!(o, "{}", result_line(&fields))?;
    Ok(exit(&st))
}

fn codes(a: CodesArgs) -> Outcome {
    let set = a.data.codes()?;
    let mut o = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut line = [b'\n'; 19];
    for c in set.listed_codes() {
        line[..18].copy_from_slice(&c.0);
        o.write_all(&line)?;
    }
    o.flush()?;
    Ok(ExitCode::SUCCESS)
}
