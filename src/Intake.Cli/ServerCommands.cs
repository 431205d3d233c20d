using System.CommandLine;
using System.Globalization;
using Intake.Catalog;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Spectre.Console;

namespace Intake.Cli;

/// <summary><c>intake serve</c>, <c>intake worker</c> and <c>intake keys</c>.</summary>
internal static class ServerCommands
{
    public static IEnumerable<Command> Build() => [ServeCommand(), WorkerCommand(), KeysCommand()];

    private static string? ConfigPath(ParseResult parse) => parse.GetValue<string?>("--config");

    private static bool JsonOutput(ParseResult parse) => parse.GetValue<bool>("--json");

    private static Command ServeCommand()
    {
        var urls = new Option<string>("--urls") { Description = "Where the REST API listens (e.g. http://127.0.0.1:8080; several separated by ';')", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var workers = new Option<int>("--workers", "-w") { Description = "Loads processed in parallel by this process", DefaultValueFactory = _ => 2 };
        var poll = new Option<string>("--poll") { Description = "How long idle workers wait before looking for work again", DefaultValueFactory = _ => "2s" };
        var discover = new Option<string>("--discover-every") { Description = "Discovery interval of pipelines without a schedule", DefaultValueFactory = _ => "30s" };
        var sweep = new Option<string>("--sweep-every") { Description = "How often expired leases and job timeouts are checked", DefaultValueFactory = _ => "5s" };
        var rate = new Option<string>("--rate-limit") { Description = "Requests per valid API key, as N/DURATION (e.g. 6000/1m), or 'off'", DefaultValueFactory = _ => "6000/1m" };
        var anonymousRate = new Option<string>("--anonymous-rate-limit") { Description = "Requests without a valid API key, per client address, as N/DURATION, or 'off'", DefaultValueFactory = _ => "60/1m" };
        var metricsAuth = new Option<string>("--metrics-auth") { Description = "Who may read /metrics: admin (an admin key), open (anyone), or auto (admin when --urls reach beyond loopback)", DefaultValueFactory = _ => "auto" };
        var keyCache = new Option<string>("--key-cache") { Description = "How long a checked API key is trusted before the catalog is asked again (a revoked key works up to this long); 0s to always ask", DefaultValueFactory = _ => "5s" };
        var smallWorkers = Commands.SmallWorkersOption();
        var schedule = new Option<string>("--schedule-every") { Description = "How often cron schedules are checked (their resolution)", DefaultValueFactory = _ => "1s" };
        var smtp = new SmtpOptions();
        var cmd = new Command("serve", "Run the REST API (/api/v1, OpenAPI at /api/v1/openapi.json), the scheduler and workers in one process, until Ctrl+C.")
        {
            urls, workers, smallWorkers, poll, discover, sweep, rate, anonymousRate, metricsAuth, schedule, keyCache,
            smtp.Listen, smtp.MaxSize, smtp.TlsCert, smtp.TlsKey, smtp.MaxSessions,
        };
        cmd.SetAction((parse, ct) =>
        {
            var errors = new List<string>();
            var options = new ServerOptions
            {
                Urls = parse.GetValue(urls)!,
                Api = true,
                Workers = Math.Max(1, parse.GetValue(workers)),
                SmallLoadWorkers = Commands.SmallWorkers(parse, smallWorkers),
                Poll = Duration(parse.GetValue(poll)!, "--poll", errors),
                DiscoverEvery = Duration(parse.GetValue(discover)!, "--discover-every", errors),
                SweepEvery = Duration(parse.GetValue(sweep)!, "--sweep-every", errors),
                ScheduleEvery = Duration(parse.GetValue(schedule)!, "--schedule-every", errors),
                RateLimit = ParseRate(parse.GetValue(rate)!, "--rate-limit", errors),
                AnonymousRateLimit = ParseRate(parse.GetValue(anonymousRate)!, "--anonymous-rate-limit", errors),
                Metrics = ParseMetricsAccess(parse.GetValue(metricsAuth)!, errors),
                KeyCache = parse.GetValue(keyCache) is "0" or "0s" ? TimeSpan.Zero : Duration(parse.GetValue(keyCache)!, "--key-cache", errors),
                Smtp = smtp.Read(parse, errors),
                MailReceiver = (runtime, observer) => new Intake.Engine.Mail.MailReceiver(runtime, observer: observer),
            };
            return RunHostAsync(parse, options, errors, ct);
        });
        return cmd;
    }

    private static Command WorkerCommand()
    {
        var workers = new Option<int>("--workers", "-w") { Description = "Loads processed in parallel by this process", DefaultValueFactory = _ => 2 };
        var poll = new Option<string>("--poll") { Description = "How long idle workers wait before looking for work again", DefaultValueFactory = _ => "2s" };
        var sweep = new Option<string>("--sweep-every") { Description = "How often expired leases and job timeouts are checked", DefaultValueFactory = _ => "5s" };
        var smallWorkers = Commands.SmallWorkersOption();
        var cmd = new Command("worker", "Run workers only (no API, no scheduler): more machines sharing a PostgreSQL catalog and S3 stores, until Ctrl+C.")
        {
            workers, smallWorkers, poll, sweep,
        };
        cmd.SetAction((parse, ct) =>
        {
            var errors = new List<string>();
            var options = new ServerOptions
            {
                Api = false,
                Workers = Math.Max(1, parse.GetValue(workers)),
                SmallLoadWorkers = Commands.SmallWorkers(parse, smallWorkers),
                Poll = Duration(parse.GetValue(poll)!, "--poll", errors),
                SweepEvery = Duration(parse.GetValue(sweep)!, "--sweep-every", errors),
            };
            return RunHostAsync(parse, options, errors, ct);
        });
        return cmd;
    }

    /// <summary>The options of the embedded SMTP listener (<c>intake serve --smtp</c>).</summary>
    private sealed class SmtpOptions
    {
        public Option<string?> Listen { get; } = new("--smtp") { Description = "Also accept mail over SMTP at ADDRESS:PORT (e.g. 127.0.0.1:2525); 250 only once a message is stored and registered" };
        public Option<string?> MaxSize { get; } = new("--smtp-max-size") { Description = "Largest message over SMTP (e.g. 25MiB); default: the mail pipelines' limit" };
        public Option<string?> TlsCert { get; } = new("--smtp-tls-cert") { Description = "Offer STARTTLS with this certificate: a PEM file (with --smtp-tls-key) or a PKCS#12 file (.pfx, .p12)" };
        public Option<string?> TlsKey { get; } = new("--smtp-tls-key") { Description = "The PEM private key of --smtp-tls-cert" };
        public Option<int> MaxSessions { get; } = new("--smtp-max-sessions") { Description = "SMTP sessions served at once; more wait to be accepted", DefaultValueFactory = _ => 20 };

        public Intake.Server.Mail.SmtpListenerOptions? Read(ParseResult parse, List<string> errors)
        {
            var listen = parse.GetValue(Listen);
            if (listen is null)
            {
                foreach (var other in new[] { MaxSize, TlsCert, TlsKey })
                {
                    if (parse.GetValue(other) is not null)
                    {
                        errors.Add($"{other.Name} needs --smtp ADDRESS:PORT");
                    }
                }

                return null;
            }

            if (!Intake.Server.Mail.SmtpListenerOptions.TryParseEndpoint(listen, out var endpoint))
            {
                errors.Add($"--smtp '{listen}' is not ADDRESS:PORT (examples: 127.0.0.1:2525, 0.0.0.0:25, [::1]:2525)");
            }

            long? maxBytes = null;
            if (parse.GetValue(MaxSize) is { } size)
            {
                if (Units.TryParseSize(size, out var bytes) && bytes > 0)
                {
                    maxBytes = bytes;
                }
                else
                {
                    errors.Add($"--smtp-max-size '{size}' is not a size above zero (examples: 10MB, 25MiB)");
                }
            }

            var sessions = parse.GetValue(MaxSessions);
            if (sessions < 1)
            {
                errors.Add($"--smtp-max-sessions {sessions} must be 1 or more");
            }

            return new Intake.Server.Mail.SmtpListenerOptions
            {
                Endpoint = endpoint ?? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, Intake.Server.Mail.SmtpListenerOptions.DefaultPort),
                MaxMessageBytes = maxBytes,
                MaxSessions = Math.Max(1, sessions),
                Certificate = Certificate(parse.GetValue(TlsCert), parse.GetValue(TlsKey), errors),
            };
        }

        private static System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate(string? cert, string? key, List<string> errors)
        {
            if (cert is null)
            {
                if (key is not null)
                {
                    errors.Add("--smtp-tls-key needs --smtp-tls-cert");
                }

                return null;
            }

            try
            {
                var loaded = key is not null
                    ? System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(cert, key)
                    : System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(cert, password: null);
                if (!loaded.HasPrivateKey)
                {
                    errors.Add($"--smtp-tls-cert {cert}: the certificate has no private key (give the PEM key with --smtp-tls-key)");
                }

                return loaded;
            }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                errors.Add($"--smtp-tls-cert {cert}{(key is null ? "" : $" with key {key}")} cannot be read: {e.Message} (a PEM certificate with --smtp-tls-key, or a PKCS#12 file without a password)");
                return null;
            }
        }
    }

    private static TimeSpan Duration(string text, string option, List<string> errors)
    {
        if (Units.TryParseDuration(text, out var value) && value > TimeSpan.Zero)
        {
            return value;
        }

        errors.Add($"{option} '{text}' is not a duration above zero (examples: 500ms, 2s, 1m)");
        return TimeSpan.FromSeconds(1);
    }

    private static MetricsAccess ParseMetricsAccess(string text, List<string> errors)
    {
        switch (text)
        {
            case "auto":
                return MetricsAccess.Auto;
            case "admin":
                return MetricsAccess.Admin;
            case "open":
                return MetricsAccess.Open;
            default:
                errors.Add($"--metrics-auth '{text}' is not auto, admin or open");
                return MetricsAccess.Auto;
        }
    }

    private static RateLimit? ParseRate(string text, string option, List<string> errors)
    {
        if (text is "off" or "none")
        {
            return null;
        }

        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var permits) && permits > 0
            && Units.TryParseDuration(parts[1], out var window) && window > TimeSpan.Zero)
        {
            return new RateLimit(permits, window);
        }

        errors.Add($"{option} '{text}' is not N/DURATION (e.g. 6000/1m, 20/1s) or 'off'");
        return null;
    }

    private static async Task<int> RunHostAsync(ParseResult parse, ServerOptions options, List<string> errors, CancellationToken ct)
    {
        if (errors.Count > 0)
        {
            errors.ForEach(e => Console.Error.WriteLine($"intake: {e}"));
            return ExitCodes.Usage;
        }

        try
        {
            var config = ConfigLoader.Load(ConfigLoader.Locate(ConfigPath(parse)));
            await IntakeServer.RunAsync(config, options, TimeProvider.System, ct);
            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return ExitCodes.Ok; // Ctrl+C or SIGTERM: the host stopped and loads in progress were handed back
        }
        catch (IntakeException e) when (ExitCodes.IsReported(e))
        {
            return ExitCodes.Report(e);
        }
        catch (IOException e) when (e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"intake: cannot listen on {options.Urls}: {e.Message}");
            return ExitCodes.Unavailable;
        }
    }

    private static Command KeysCommand()
    {
        var keys = new Command("keys", "Manage REST API keys. A key sees only its customer's pipelines, loads and tables (admin: every customer's).");

        var customer = new Option<string?>("--customer") { Description = "The customer whose resources the key may see (required except for admin keys)" };
        var scope = new Option<string>("--scope") { Description = "read (look), write (also pause, resume, run, re-drive, cancel) or admin (write, every customer)", DefaultValueFactory = _ => "read" };
        var name = new Option<string?>("--name") { Description = "A note for operators: who or what uses the key" };
        var create = new Command("create", "Create a key and print it once: only its hash is stored, so it cannot be shown again.") { customer, scope, name };
        create.SetAction((parse, ct) => WithKeyStoreAsync(parse, async (store, json) =>
        {
            if (!ApiKeyScopeNames.TryParse(parse.GetValue(scope), out var s))
            {
                Console.Error.WriteLine($"intake: --scope '{parse.GetValue(scope)}' is not read, write or admin");
                return ExitCodes.Usage;
            }

            var c = parse.GetValue(customer);
            if (string.IsNullOrWhiteSpace(c))
            {
                if (s != ApiKeyScope.Admin)
                {
                    Console.Error.WriteLine("intake: --customer is required for read and write keys (the customer whose resources the key may see)");
                    return ExitCodes.Usage;
                }

                c = "*";
            }

            var created = await ApiKeys.CreateAsync(store, c, s, parse.GetValue(name), ct);
            if (json)
            {
                Json.Write(new { id = created.Record.Id, key = created.Key, customer = created.Record.Customer, scope = created.Record.Scope.ToWord(), name = created.Record.Name });
            }
            else
            {
                Console.Out.WriteLine(created.Key);
                Console.Error.WriteLine($"intake: key {created.Record.Id} created for customer {created.Record.Customer}, scope {created.Record.Scope.ToWord()}. Store it now: it is not shown again.");
            }

            return ExitCodes.Ok;
        }, ct));

        var list = new Command("list", "List keys (id, customer, scope, created, revoked); never the keys themselves.");
        list.SetAction((parse, ct) => WithKeyStoreAsync(parse, async (store, json) =>
        {
            var all = await store.ListApiKeysAsync(ct);
            if (json)
            {
                Json.Write(all.Select(k => new { id = k.Id, customer = k.Customer, scope = k.Scope.ToWord(), name = k.Name, created_at = k.CreatedAt, revoked_at = k.RevokedAt }));
                return ExitCodes.Ok;
            }

            if (all.Count == 0)
            {
                Terminal.Out.WriteLine("no keys; create one with 'intake keys create --customer C --scope read'");
                return ExitCodes.Ok;
            }

            var table = new Table { Border = TableBorder.Simple };
            table.AddColumns("id", "customer", "scope", "name", "created (UTC)", "revoked (UTC)");
            foreach (var k in all)
            {
                table.AddRow(Terminal.Escape(k.Id), Terminal.Escape(k.Customer), k.Scope.ToWord(), Terminal.Escape(k.Name), Time(k.CreatedAt), Time(k.RevokedAt));
            }

            Terminal.Out.Write(table);
            return ExitCodes.Ok;
        }, ct));

        var id = new Argument<string>("ID") { Description = "The key's id (the 12 characters after 'ik_'; see 'intake keys list')" };
        var revoke = new Command("revoke", "Revoke a key: requests with it are refused (401) from now on.") { id };
        revoke.SetAction((parse, ct) => WithKeyStoreAsync(parse, async (store, json) =>
        {
            var keyId = parse.GetValue(id)!;
            // Accept the whole key too, so a leaked key can be revoked by pasting it.
            keyId = ApiKeys.IdOf(keyId) ?? keyId;
            var existing = await store.FindApiKeyAsync(keyId, ct);
            if (existing is null)
            {
                Console.Error.WriteLine($"intake: no key {keyId} ('intake keys list' shows the ids)");
                return ExitCodes.NotFound;
            }

            var revoked = await store.RevokeApiKeyAsync(keyId, ct);
            if (json)
            {
                Json.Write(new { id = keyId, revoked = true, already = !revoked });
            }
            else
            {
                Terminal.Out.WriteLine(revoked ? $"key {keyId} revoked" : $"key {keyId} was already revoked");
            }

            return ExitCodes.Ok;
        }, ct));

        keys.Subcommands.Add(create);
        keys.Subcommands.Add(list);
        keys.Subcommands.Add(revoke);
        return keys;
    }

    private static string Time(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";

    /// <summary>Opens (and migrates) only the catalog: key management needs nothing else.</summary>
    private static async Task<int> WithKeyStoreAsync(ParseResult parse, Func<IApiKeyStore, bool, Task<int>> body, CancellationToken ct)
    {
        try
        {
            var config = ConfigLoader.Load(ConfigLoader.Locate(ConfigPath(parse)));
            var catalog = CatalogFactory.Open(config.Catalog.Kind, config.Catalog.Connection, TimeProvider.System);
            await using var loads = catalog.Loads;
            await loads.MigrateAsync(ct);
            return await body(catalog.Keys, JsonOutput(parse));
        }
        catch (IntakeException e) when (ExitCodes.IsReported(e))
        {
            return ExitCodes.Report(e);
        }
    }
}
