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
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = config.BaseDirectory, Args = [] });
            ConfigureLogging(builder.Logging);
            builder.WebHost.UseUrls(options.Urls);
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
            ServerLog.Started(state.Log, options.Api ? "serve" : "worker", options.Workers, runtime.Catalog is Catalog.SqlCatalog c ? c.Description : config.Catalog.Kind,
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

        services.AddHostedService<SchedulerService>();
        services.ConfigureHttpJsonOptions(o => Json.Configure(o.SerializerOptions));
        services.AddProblemDetails();
        services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Intake API";
            document.Info.Version = "v1";
            document.Info.Description = "Pipelines, loads (also as jobs), tables and watermarks. Send an API key as X-Api-Key or 'Authorization: Bearer'. " +
                "A key sees only its customer's resources (admin keys: all); others answer 404. Errors are application/problem+json.";
            return Task.CompletedTask;
        }));
        if (state.Options.RateLimit is { } limit)
        {
            services.AddRateLimiter(o =>
            {
                o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
                {
                    if (!http.Request.Path.StartsWithSegments("/api/v1", StringComparison.Ordinal))
                    {
                        return RateLimitPartition.GetNoLimiter("ops");
                    }

                    // Per key; requests without a valid key share a partition per client address, so guessing keys is limited too.
                    var partition = http.Features.Get<Caller>() is { } caller ? "key:" + caller.KeyId : "ip:" + http.Connection.RemoteIpAddress;
                    return RateLimitPartition.GetFixedWindowLimiter(partition, _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = limit.Permits,
                        Window = limit.Window,
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
                });
                o.OnRejected = async (context, ct) =>
                {
                    var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)) : (int)Math.Ceiling(limit.Window.TotalSeconds);
                    context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    await Results.Problem(
                        detail: $"this key sent more than {limit.Permits} requests in {Engine.Scheduling.JobTimeouts.Format(limit.Window)}; retry after {seconds} s",
                        statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests").ExecuteAsync(context.HttpContext);
                };
            });
        }
    }

    private static void Map(WebApplication app, ServerState state)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = e => e is Core.Errors.IntakeException { IsTransient: true } ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError,
        });
        app.UseStatusCodePages();
        app.UseMiddleware<ApiKeyMiddleware>();
        if (state.Options.RateLimit is not null)
        {
            app.UseRateLimiter();
        }

        app.MapOpenApi("/api/{documentName}/openapi.json");
        OpsEndpoints.Map(app, state);

        var api = app.MapGroup("/api/v1");
        api.AddEndpointFilter(async (context, next) =>
            context.HttpContext.Features.Get<Caller>() is null ? Problems.Unauthorized() : await next(context));
        api.WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status401Unauthorized, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), ["application/problem+json"]));

        var write = api.MapGroup("");
        write.AddEndpointFilter(async (context, next) =>
            context.HttpContext.Features.Get<Caller>() is { CanWrite: false } caller
                ? Problems.Forbidden($"key {caller.KeyId} has scope {caller.Scope.ToWord()}; this request needs write or admin (create one with 'intake keys create --scope write')")
                : await next(context));

        PipelineEndpoints.Map(api, write);
        LoadEndpoints.Map(api, write, "loads");
        LoadEndpoints.Map(api, write, "jobs");
        TableEndpoints.Map(api);
        ExportEndpoints.Map(api, write);
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

    /// <summary>The addresses Kestrel listens on (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<string> Addresses =>
        _host.Services.GetService<Microsoft.AspNetCore.Hosting.Server.IServer>()?.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.ToList() ?? [];

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
