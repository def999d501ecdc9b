//! `rtcx-query-api`: serves the API (`/v1/...`) with the operations endpoints
//! (`/health/live`, `/health/ready` (Postgres and ClickHouse answer), `/metrics`), or creates
//! the first administrator (`create-admin`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use rtcx_query_api::app::{AppState, router};
use rtcx_query_api::auth::Role;
use rtcx_query_api::auth::handlers::{Welcome, check_password, create_user, normalize_email};
use rtcx_query_api::auth::throttle::{LoginThrottle, ThrottleLimits};
use rtcx_query_api::auth::tokens::TokenService;

use rtcx_query_api::config::Config;
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router};

/// mimalloc gives the 19 MiB argon2 buffers back to the system after use, where glibc's
/// growing mmap threshold kept them in its arenas (+134 MB after a fuzzing campaign).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "rtcx-query-api", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Generate a synthetic feedback dataset in ClickHouse (and topics in Postgres) for
    /// benchmarks: rows spread over the last `days` days, rollups filled by their views.
    ///
    /// Refuses a database that already holds feedback other than seeded rows (source `seed`):
    /// synthetic rows would mix into real dashboards. `--force` seeds anyway.
    Seed {
        /// Rows to generate.
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Days back the rows spread over.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Seed even when the database holds real (not seeded) feedback.
        #[arg(long)]
        force: bool,
    },
    /// Demo set-up (run by `deploy/dev.sh up`): create or reset an administrator login and add
    /// the topics of a catalogue file that do not exist yet. Idempotent.
    Demo {
        /// The demo administrator's email.
        #[arg(long, env = "RTCX_ADMIN_EMAIL")]
        email: String,
        /// Its password (prefer the environment variable to keep it out of shell history).
        #[arg(long, env = "RTCX_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// Topic catalogue: a JSON array of {name, category, description, keywords}.
        #[arg(long, default_value = "deploy/demo/topics.json")]
        topics: std::path::PathBuf,
    },
    /// Create an administrator account (the first one, or another); fails if the email exists.
    CreateAdmin {
        /// The administrator's email.
        #[arg(long, env = "RTCX_ADMIN_EMAIL")]
        email: String,
        /// The password (prefer the environment variable to keep it out of shell history).
        #[arg(long, env = "RTCX_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

async fn state(cfg: &Config) -> anyhow::Result<AppState> {
    cfg.auth.validate().map_err(anyhow::Error::msg)?;
    cfg.alerts.validate().map_err(anyhow::Error::msg)?;
    cfg.live.validate().map_err(anyhow::Error::msg)?;
    let read = |p: &std::path::Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let tokens = TokenService::from_ed_pem(
        &read(&cfg.auth.jwt_private_key_file)?,
        &read(&cfg.auth.jwt_public_key_file)?,
        &cfg.auth.jwt_issuer,
        chrono::Duration::seconds(cfg.auth.access_token_ttl_secs),
    )
    .context("RTCX_JWT_PRIVATE_KEY_FILE / RTCX_JWT_PUBLIC_KEY_FILE")?;
    // Lazy: the service starts (and reports not-ready) while Postgres is down.
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&cfg.postgres_url)
        .context("invalid RTCX_POSTGRES_URL")?;
    Ok(AppState {
        pg,
        ch: cfg.clickhouse.client(),
        tokens,
        throttle: LoginThrottle::new(ThrottleLimits {
            per_account: cfg.auth.login_max_failures_per_account,
            per_ip: cfg.auth.login_max_failures_per_ip,
            ..ThrottleLimits::default()
        }),
        refresh_ttl: chrono::Duration::days(cfg.auth.refresh_token_ttl_days),
        self_registration: cfg.auth.allow_self_registration,
        trust_forwarded_for: cfg.auth.trust_forwarded_for,
        alerts: cfg.alerts,
        cache: rtcx_query_api::cache::AnswerCache::new(Duration::from_millis(cfg.cache_ttl_ms)),
        cors_origins: cfg
            .cors_origins
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| o.parse().with_context(|| format!("RTCX_CORS_ORIGINS: invalid origin {o:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?,
        webhook_allow_private_targets: cfg.webhook_allow_private_targets,
        live: rtcx_query_api::live::Hub::new(cfg.live.limits()),
        live_timings: cfg.live.timings(),
        embedder: None,
        similar: rtcx_query_api::similar::ListIndex::default(),
    })
}

/// The model of similar-feedback search by text, when RTCX_MODEL_DIR is set (only `serve`
/// loads it: the other commands never search).
async fn load_embedder(cfg: &Config) -> anyhow::Result<Option<Arc<rtcx_query_api::embedder::Embedder>>> {
    let args = cfg.embedder.clone();
    let embedder = tokio::task::spawn_blocking(move || rtcx_query_api::embedder::Embedder::load(&args))
        .await
        .context("loading the embedding model")?
        .context("RTCX_MODEL_DIR / RTCX_HEADS_DIR: the model that embeds similar-feedback searches")?;
    match &embedder {
        Some(e) => {
            tracing::info!(model = %e.model().name, version = %e.model().version, "similar-feedback search by text ready")
        }
        None => tracing::warn!("no RTCX_MODEL_DIR: similar-feedback search takes `id` only"),
    }
    Ok(embedder.map(Arc::new))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = cli.config;
    cfg.log.init().context("invalid --log-level")?;
    let app = state(&cfg).await?;
    match cli.command {
        Some(Command::CreateAdmin { email, password, name }) => {
            let email = normalize_email(&email).map_err(|e| anyhow::anyhow!("{e}: email"))?;
            check_password("password", &password, &email).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let user = create_user(&app, &email, &name, &password, Role::Admin, Welcome::None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created administrator {} ({})", user.email, user.id);
            Ok(())
        }
        Some(Command::Demo { email, password, topics }) => {
            use rtcx_query_api::demo;
            let catalogue = demo::load_topics(&topics)?;
            let created = demo::ensure_admin(&app, &email, &password).await?;
            let added = demo::ensure_topics(&app.pg, &catalogue).await?;
            println!(
                "demo administrator {email} {}; {added} of {} demo topics added",
                if created { "created" } else { "already existed (password reset)" },
                catalogue.len()
            );
            Ok(())
        }
        Some(Command::Seed { rows, days, force }) => {
            let real = rtcx_query_api::seed::real_feedback_rows(&app.ch).await.context("counting real feedback")?;
            if real > 0 && !force {
                anyhow::bail!(
                    "this database holds {real} real (not seeded) feedback rows: seeding would mix synthetic rows \
                     into its dashboards; point RTCX_CLICKHOUSE_DATABASE at another database, or pass --force"
                );
            }
            let mut topics = Vec::new();
            for name in ["Delivery", "Billing", "Mobile app", "Refunds", "Staff"] {
                let id: uuid::Uuid = sqlx::query_scalar(
                    "INSERT INTO topics (name, category, description) VALUES ($1, 'seed', 'seeded for benchmarks') \
                     ON CONFLICT (lower(name)) DO UPDATE SET updated_at = now() RETURNING id",
                )
                .bind(format!("seed: {name}"))
                .fetch_one(&app.pg)
                .await
                .context("creating seed topics")?;
                topics.push(id);
            }
            let started = std::time::Instant::now();
            app.ch
                .clone()
                .with_setting("max_execution_time", "3600")
                .with_setting("async_insert", "0")
                .query(&rtcx_query_api::seed::seed_sql(rows, days, &topics))
                .execute()
                .await
                .context("seeding ClickHouse")?;
            println!("seeded {rows} rows over {days} days in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        None | Some(Command::Serve) => {
            let mut app = app;
            app.embedder = load_embedder(&cfg).await?;
            app.similar = cfg.embedder.list_index().context("RTCX_HEADS_DIR: the embedding lists beside the heads")?;
            match &app.similar.lists {
                Some(l) => tracing::info!(
                    lists = l.lists(),
                    probes = app.similar.probes,
                    "similar-feedback search reads lists"
                ),
                None => tracing::warn!("no embedding-lists.bin beside the heads: similar-feedback searches are exact"),
            }
            let health = HealthRegistry::new()
                .with_fn("postgres", checks::postgres(app.pg.clone()))
                .with_fn("clickhouse", checks::clickhouse(app.ch.clone()));
            let app = Arc::new(app);
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let live = rtcx_query_api::live::spawn(&app, &cfg.live, stopped);
            // Live connections would hold the graceful shutdown open: end them when it starts.
            let hub = Arc::clone(&app.live);
            tokio::spawn(async move {
                rtcx_service_kit::shutdown_signal().await;
                hub.close_all();
                let _ = stop.send(true);
            });
            let routes = router(app).merge(ops_router(health, install_metrics_recorder()));
            tracing::info!(listen = %cfg.listen, "rtcx-query-api starting");
            rtcx_service_kit::serve(cfg.listen, routes).await?;
            for task in live {
                task.abort();
            }
            Ok(())
        }
    }
}
