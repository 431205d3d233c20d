using System.Threading.RateLimiting;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Server.Api;
using Intake.Server.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Intake.Server.Hosting;

/// <summary>
/// The two server hosts. <c>intake serve</c>: REST API, scheduler, sweeper and workers in one process.
/// <c>intake worker</c>: sweeper and workers only, for more machines on a shared PostgreSQL catalog.
/// </summary>
public static class IntakeServer
{
    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled (Ctrl+C, SIGTERM).</summary>
    public static async Task RunAsync(IntakeConfig config, ServerOptions options, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        await using var server = await StartAsync(config, options, time, cancellationToken);
        await server.WaitForShutdownAsync(cancellationToken);
    }

    /// <summary>Starts the host and returns once it listens (for tests that run it in-process).</summary>
    public static async Task<RunningServer> StartAsync(IntakeConfig config, ServerOptions options, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        time ??= TimeProvider.System;
        var state = new ServerState(options);
        IHost host;
        if (options.Api)
        {
            // Always Production: the Development environment would add the developer exception page (stack traces with
            // the server's paths and .NET type names) and binding exceptions in responses; API clients see neither.
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = config.BaseDirectory, Args = [], EnvironmentName = Environments.Production });
            ConfigureLogging(builder.Logging);
            builder.WebHost.UseUrls(options.Urls);
            builder.WebHost.ConfigureKestrel(RequestGuardMiddleware.ConfigureKestrel);
            Configure(builder.Services, state, time, withApi: true);
            var app = builder.Build();
            Map(app, state);
            host = app;
        }
        else
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = config.BaseDirectory });
            ConfigureLogging(builder.Logging);
            Configure(builder.Services, state, time, withApi: false);
            host = builder.Build();
        }

        try
        {
            // A daemon: started during a catalog outage it waits (logged once) and comes up when the catalog answers.
            var runtime = await IntakeRuntime.OpenAsync(config, OutageOptions.Daemon, time, host.Services.GetRequiredService<ILoggerFactory>(), cancellationToken);
            state.Initialize(runtime);
            ServerLog.Started(state.Log, options.Api ? "serve" : "worker", options.Workers, config.Defaults.SmallLoadLanes(options.SmallLoadWorkers), runtime.Catalog is Catalog.SqlCatalog c ? c.Description : config.Catalog.Kind,
                string.Join(", ", config.Pipelines.Select(p => p.Name)));
            await host.StartAsync(cancellationToken);
            return new RunningServer(host, state);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>One JSON object per line: engine lines carry LoadId and Pipeline as fields. Framework chatter only from warnings up.</summary>
    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        // The exception handler below logs each failure once, with the request id its answer gives (ServerLog.Unhandled).
        logging.AddFilter("Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware", LogLevel.None);
        logging.AddJsonConsole(o =>
        {
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.IncludeScopes = false;
            o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
        });
    }

    private static void Configure(IServiceCollection services, ServerState state, TimeProvider time, bool withApi)
    {
        services.AddSingleton(state);
        services.AddSingleton(time);
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        services.AddHostedService<WorkerPoolService>();
        services.AddHostedService<SweeperService>();
        if (!withApi)
        {
            return;
        }

        if (state.Options.Smtp is not null)
        {
            Mail.SmtpHostedService.Add(services); // after the workers: started after them, stopped before them
        }

        services.AddHostedService<SchedulerService>();
        StreamsHostedService.Add(services);
        services.ConfigureHttpJsonOptions(o => Json.Configure(o.SerializerOptions));
        // A backstop for problems the framework writes (status code pages, the exception handler): every one has a type.
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c => c.ProblemDetails.Type ??= Problems.TypeFor(c.ProblemDetails.Status ?? c.HttpContext.Response.StatusCode));
        services.AddOpenApi("v1", ApiDocument.Configure);
        AddRateLimits(services, state.Options);
        Ui.UiEndpoints.AddServices(services);
    }

    /// <summary>
    /// Requests to the API (and to a protected /metrics) are limited per valid key, and, more strictly, per client
    /// address when they carry no valid key: such a request is a mistake or a guess, and the address is all there is
    /// to count it by. Probes are never limited: a load balancer must always see the process.
    /// </summary>
    private static void AddRateLimits(IServiceCollection services, ServerOptions options)
    {
        var keyed = options.RateLimit;
        var anonymous = options.AnonymousRateLimit;
        if (keyed is null && anonymous is null)
        {
            return;
        }

        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
            {
                if (!ApiKeyMiddleware.TakesAKey(http.Request.Path, options))
                {
                    return RateLimitPartition.GetNoLimiter("ops");
                }

                var (partition, limit) = http.Features.Get<Caller>() is { } caller ? ("key:" + caller.KeyId, keyed) : ("address:" + http.Connection.RemoteIpAddress, anonymous);
                return limit is null
                    ? RateLimitPartition.GetNoLimiter("unlimited")
                    : RateLimitPartition.GetFixedWindowLimiter(partition, _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = limit.Permits,
                        Window = limit.Window,
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
            });
            o.OnRejected = async (context, ct) =>
            {
                var http = context.HttpContext;
                var caller = http.Features.Get<Caller>();
                var limit = (caller is null ? anonymous : keyed)!;
                var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)) : (int)Math.Ceiling(limit.Window.TotalSeconds);
                var after = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var window = Engine.Scheduling.JobTimeouts.Format(limit.Window);
                http.Response.Headers.RetryAfter = after;
                await Problems.Of(StatusCodes.Status429TooManyRequests,
                    caller is null
                        ? $"more than {limit.Permits} requests without a valid API key came from this address in {window}; retry after {after} s, with a valid key (keys have their own, higher limit)"
                        : $"key {caller.KeyId} sent more than {limit.Permits} requests in {window}; retry after {after} s",
                    "Too many requests").ExecuteAsync(http);
            };
        });
    }

    private static void Map(WebApplication app, ServerState state)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = e => e switch
            {
                BadHttpRequestException bad => bad.StatusCode,
                Core.Errors.IntakeException { IsTransient: true } => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status500InternalServerError,
            },
            // Never the exception's text: it may name server paths or .NET types. The log has it, under the request id
            // the answer gives. The web UI answers a page in its own frame; everything else a problem (JSON).
            ExceptionHandler = http =>
            {
                var requestId = System.Diagnostics.Activity.Current?.Id ?? http.TraceIdentifier;
                if (http.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerFeature>() is { } failure)
                {
                    ServerLog.Unhandled(state.Log, failure.Error, http.Request.Method, http.Request.Path.Value ?? "", requestId);
                }

                var unavailable = http.Response.StatusCode == StatusCodes.Status503ServiceUnavailable;
                if (Ui.UiSession.Applies(http.Request.Path))
                {
                    return Ui.UiEndpoints.ErrorPageAsync(http, requestId, unavailable);
                }

                return Problems.Of(http.Response.StatusCode, unavailable
                    ? "a service the server depends on (the catalog or a store) is unavailable; retry later"
                    : $"the server failed on this request; its log has the error (trace id {requestId})").ExecuteAsync(http);
            },
        });
        app.UseMiddleware<RequestGuardMiddleware>();
        app.UseStatusCodePages(context => Ui.UiSession.Applies(context.HttpContext.Request.Path)
            ? Ui.UiEndpoints.StatusPageAsync(context.HttpContext)
            : StatusProblem(context.HttpContext).ExecuteAsync(context.HttpContext));
        app.UseMiddleware<ApiKeyMiddleware>();
        if (state.Options.RateLimit is not null || state.Options.AnonymousRateLimit is not null)
        {
            app.UseRateLimiter();
        }

        app.MapOpenApi("/api/{documentName}/openapi.json");
        OpsEndpoints.Map(app, state);

        var (api, write) = SecuredGroups(app, "/api/v1");
        PipelineEndpoints.Map(api, write);
        LoadEndpoints.Map(api, write, "loads");
        LoadEndpoints.Map(api, write, "jobs");
        TableEndpoints.Map(api);
        CubicEndpoints.Map(api);
        ExportEndpoints.Map(api, write);
        StreamsEndpoints.Map(api, write);

        // HView's clients call /api/1.0 (its upload trigger and jobs list) with the same keys and rules.
        var (hview, hviewWrite) = SecuredGroups(app, "/api/1.0");
        HViewEndpoints.Map(hview, hviewWrite);

        // The operator web UI: the same callers, lookups and actions as the API, as server-rendered pages.
        Ui.UiEndpoints.Map(app);
    }

    /// <summary>
    /// The route groups of an API version: every endpoint needs a valid key (401 without), path parameters follow the
    /// API's rules, and the write group refuses read keys (403).
    /// </summary>
    private static (RouteGroupBuilder Api, RouteGroupBuilder Write) SecuredGroups(WebApplication app, string prefix)
    {
        var api = app.MapGroup(prefix);
        api.AddEndpointFilter(async (context, next) =>
            context.HttpContext.Features.Get<Caller>() is null ? Problems.Unauthorized() : await next(context));
        // Path parameters (pipeline, table, partition …) follow the same rules everywhere; checked after the key, so a client without one learns nothing.
        api.AddEndpointFilter(async (context, next) =>
            ApiInput.RouteValueProblems(context.HttpContext.Request.RouteValues) is { Count: > 0 } errors ? Problems.Invalid(errors) : await next(context));
        api.WithMetadata(ApiDocument.RequiresKey.Instance)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status414RequestUriTooLong)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge);

        var write = api.MapGroup("");
        write.AddEndpointFilter(async (context, next) =>
            context.HttpContext.Features.Get<Caller>() is { CanWrite: false } caller
                ? Problems.Forbidden($"key {caller.KeyId} has scope {caller.Scope.ToWord()}; this request needs write or admin (create one with 'intake keys create --scope write')")
                : await next(context));
        write.ProducesProblem(StatusCodes.Status403Forbidden);

        return (api, write);
    }

    /// <summary>The problem for a status an endpoint set without a body: no route (404), a route without this method (405).</summary>
    private static IResult StatusProblem(HttpContext http)
    {
        var status = http.Response.StatusCode;
        var what = $"{http.Request.Method} {(http.Request.Path.Value is { Length: > 200 } p ? p[..200] + "…" : http.Request.Path.Value)}";
        return Problems.Of(status, status switch
        {
            StatusCodes.Status404NotFound => $"no endpoint answers {what}; /api/v1/openapi.json lists them",
            StatusCodes.Status405MethodNotAllowed => $"{what}: the path exists but not with this method; /api/v1/openapi.json lists the methods",
            _ => $"{what} was refused",
        });
    }
}

/// <summary>A started host: stop it by disposing, or wait for the process's shutdown signal.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly IHost _host;

    internal RunningServer(IHost host, ServerState state)
    {
        _host = host;
        State = state;
    }

    public ServerState State { get; }

    /// <summary>The host's services (the tests read the mapped routes from its endpoint data sources).</summary>
    internal IServiceProvider Services => _host.Services;

    /// <summary>The addresses Kestrel listens on (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<string> Addresses =>
        _host.Services.GetService<Microsoft.AspNetCore.Hosting.Server.IServer>()?.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    /// <summary>Where the SMTP listener accepts mail (with the real port when 0 was asked for); null without <c>--smtp</c>.</summary>
    public System.Net.IPEndPoint? SmtpEndpoint => _host.Services.GetService<Mail.SmtpHostedService>()?.Listener?.Endpoint;

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _host.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(CancellationToken.None);
        }
        finally
        {
            if (_host is IAsyncDisposable d)
            {
                await d.DisposeAsync();
            }
            else
            {
                _host.Dispose();
            }

            await State.Runtime.DisposeAsync();
        }
    }
}
