use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::Application;
use switchboard::channels::sandbox::CustomerMessage;
use switchboard::config::Config;

/// Switchboard: real-time messaging server for customer conversations.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file; environment variables override it.
    #[arg(long, env = "SWITCHBOARD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Play a customer message on a sandbox channel (the server need not be
    /// stopped: it shows the message to connected agents within a second).
    Simulate {
        /// Tenant slug.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Sandbox channel name.
        #[arg(long, default_value = "demo")]
        channel: String,
        /// The customer's handle on the channel.
        #[arg(long)]
        from: String,
        /// Display name for a new contact.
        #[arg(long)]
        name: Option<String>,
        /// The message text.
        #[arg(long)]
        text: String,
        /// A provider-style message id: repeating it stores nothing new.
        #[arg(long)]
        message_id: Option<String>,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("switchboard: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Simulate {
        tenant,
        channel,
        from,
        name,
        text,
        message_id,
    }) = cli.command
    {
        let message = CustomerMessage {
            from,
            name,
            phone: None,
            text,
            message_id,
        };
        return match switchboard::simulate::play(&config, &tenant, &channel, message).await {
            Ok(recorded) => {
                println!("{recorded}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("switchboard simulate: {err}");
                ExitCode::FAILURE
            }
        };
    }
    switchboard::telemetry::init_logs(&config.log);
    // Every connection is a file descriptor; a soft limit of 1024 (a common default)
    // would let about a thousand idle connections shut everyone out. Take what the
    // hard limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(open_files_limit = limit, "open-file limit"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open-file limit"),
    }
    // Where a browser reaches this node: any-address binds are reached on loopback.
    let host = match config.server.host.as_str() {
        "0.0.0.0" | "::" => "127.0.0.1".to_owned(),
        host if host.contains(':') => format!("[{host}]"),
        host => host.to_owned(),
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "switchboard could not start");
            eprintln!("switchboard: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(owner) = app.first_owner() {
        // Printed, not logged: log pipelines keep lines forever, this must be seen once.
        println!(
            "Switchboard first start: created tenant '{}' and its owner.",
            owner.tenant_slug
        );
        println!("  tenant:   {}", owner.tenant_slug);
        println!("  email:    {}", owner.email);
        if owner.generated {
            println!("  password: {}", owner.password.expose());
            println!(
                "This password is shown only now. Sign in and change it (POST /api/v1/auth/password)."
            );
        } else {
            println!("  password: (as configured in bootstrap.owner_password)");
        }
    }
    tracing::info!(port = app.port(), "switchboard listening");
    println!("Switchboard inbox: http://{host}:{}/", app.port());
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("switchboard stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
