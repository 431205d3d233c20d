using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Audit;
using Intake.Server.Api;
using Intake.Server.Auth;
using Intake.Server.Hosting;
using Intake.Server.Ui.Components;
using Intake.Core.Ports;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Intake.Server.Ui;

/// <summary>
/// The operator web UI at <c>/ui</c>: pages rendered on the server (Razor components, static rendering; no circuit,
/// no client framework), working without JavaScript. Each endpoint here does what the API's endpoint does (the same
/// <see cref="Caller"/> from the same key check, the same lookups, the same <see cref="Engine.Operations.LoadActions"/>)
/// and hands the result to a component that only draws it. Every form carries an anti-forgery token; a form that
/// changes something redirects to a page that shows its result (post, redirect, get).
/// </summary>
internal static class UiEndpoints
{
    public static void Map(WebApplication app)
    {
        var ui = app.MapGroup(UiSession.Root).ExcludeFromDescription();
        ui.AddEndpointFilter(async (context, next) =>
        {
            SecurityHeaders(context.HttpContext.Response);
            return await next(context);
        });
        ui.MapMethods("/assets/{name}", [HttpMethods.Get, HttpMethods.Head], UiAssets.Serve);

        ui.MapGet("/signin", (HttpContext http, string? returnUrl) => SignInPageResult(http, LocalReturnUrl(returnUrl), null));
        ui.MapPost("/signin", SignInAsync).AddEndpointFilter(RequireFormToken);
        ui.MapPost("/signout", SignOut).AddEndpointFilter(RequireFormToken);

        // Everything else needs a signed-in key; forms need their anti-forgery token, then (write group) a key that may write.
        var pages = ui.MapGroup("");
        pages.AddEndpointFilter(RequireCaller);
        pages.AddEndpointFilter(RequireFormToken);
        pages.MapGet("/loads/{id:long}", LoadPageAsync);
        pages.MapGet("/loads/go", (HttpContext http, string? id) => long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? Results.Redirect($"{UiSession.Root}/loads/{n.ToString(CultureInfo.InvariantCulture)}")
            : StatusPageResult(http, StatusCodes.Status404NotFound, "No such load", "A load id is a whole number; the overview has a field for it."));

        var write = pages.MapGroup("");
        write.AddEndpointFilter(RequireWrite);
        write.MapPost("/loads/{id:long}/redrive", RedriveAsync);
        write.MapPost("/loads/{id:long}/cancel", CancelAsync);
        UiLoadsEndpoints.Map(pages, write);
        UiOverviewEndpoints.Map(pages, write);
    }

    /// <summary>The services the UI needs on top of the API's.</summary>
    public static void AddServices(IServiceCollection services)
    {
        services.AddRazorComponents();
        // The keys that protect the session cookie and the anti-forgery tokens live in the catalog (CatalogKeyRing), so
        // sessions outlive a restart and every server on the catalog accepts them. The application name is fixed:
        // it isolates the keys' purposes, and two servers must agree on it to read each other's cookies.
        services.AddDataProtection().SetApplicationName("Intake");
        services.AddSingleton<CatalogKeyRing>();
        services.AddOptions<KeyManagementOptions>().Configure<CatalogKeyRing>((o, ring) => o.XmlRepository = ring);
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "intake_ui_af";
            o.Cookie.Path = UiSession.Root;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.HttpOnly = true;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.FormFieldName = "__token";
        });
    }

    /// <summary>
    /// Pages hold one customer's data: never cached, never framed, and only this server's own scripts and styles run
    /// (no inline script, so an injected one would not either).
    /// </summary>
    private static void SecurityHeaders(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "same-origin";
        headers.XFrameOptions = "DENY";
        if (!response.HttpContext.Request.Path.StartsWithSegments(UiSession.Root + "/assets", StringComparison.OrdinalIgnoreCase))
        {
            headers.CacheControl = "no-store";
        }
    }

    private static async ValueTask<object?> RequireCaller(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (http.Features.Get<Caller>() is not null)
        {
            return await next(context);
        }

        // A form posted after the session ended goes back to the page it came from, not to the form's address.
        var back = HttpMethods.IsGet(http.Request.Method) ? http.Request.Path + http.Request.QueryString : UiSession.Root + "/";
        return Results.Redirect($"{UiSession.Root}/signin?returnUrl={Uri.EscapeDataString(back)}");
    }

    /// <summary>Every form posts its anti-forgery token; without a valid one the post is refused (400) before anything else looks at it.</summary>
    private static async ValueTask<object?> RequireFormToken(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (HttpMethods.IsPost(http.Request.Method) && !await http.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(http))
        {
            return StatusPageResult(http, StatusCodes.Status400BadRequest, "Form refused",
                "This form did not carry a valid anti-forgery token (it expired, the server restarted, or it was not sent from this site's page). Reload the page and try again.");
        }

        return await next(context);
    }

    /// <summary>The API's rule for writes: a read key is refused (403), in the API's words.</summary>
    private static async ValueTask<object?> RequireWrite(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        return http.Features.Get<Caller>() is { CanWrite: false } caller
            ? StatusPageResult(http, StatusCodes.Status403Forbidden, "Not allowed",
                $"Key {caller.KeyId} has scope {caller.Scope.ToWord()}; this action needs write or admin (create one with 'intake keys create --scope write').")
            : await next(context);
    }

    /// <summary>Only a path on this server under /ui: anything else (another host, //host, /\host, a scheme) becomes the UI's start page.</summary>
    internal static string LocalReturnUrl(string? returnUrl)
    {
        if (string.IsNullOrEmpty(returnUrl) || returnUrl.Length > 2000 || returnUrl.Contains('\\', StringComparison.Ordinal)
            || returnUrl.StartsWith("//", StringComparison.Ordinal) || returnUrl.Any(char.IsControl)
            || !(string.Equals(returnUrl, UiSession.Root, StringComparison.OrdinalIgnoreCase) || returnUrl.StartsWith(UiSession.Root + "/", StringComparison.OrdinalIgnoreCase) || returnUrl.StartsWith(UiSession.Root + "?", StringComparison.OrdinalIgnoreCase))
            || !Uri.TryCreate(returnUrl, UriKind.Relative, out _))
        {
            return UiSession.Root + "/";
        }

        return returnUrl;
    }

    private static RazorComponentResult SignInPageResult(HttpContext http, string returnUrl, string? error) =>
        Page<SignInPage>(http, new Dictionary<string, object?> { ["ReturnUrl"] = returnUrl, ["Error"] = error });

    private static async Task<IResult> SignInAsync(HttpContext http, ServerState state)
    {
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var returnUrl = LocalReturnUrl(form["returnUrl"]);
        var key = form["key"].Count == 1 ? form["key"][0] : null;
        if (string.IsNullOrEmpty(key))
        {
            return SignInPageResult(http, returnUrl, "Enter an API key.");
        }

        if (await ApiKeyMiddleware.AuthenticateAsync(key, http, state) is null)
        {
            // The same words for every reason: a guesser learns nothing about which keys exist.
            return SignInPageResult(http, returnUrl, "This key was not accepted: it is not a key, unknown, revoked, or its secret is wrong. Check it or ask for a new one ('intake keys create').");
        }

        UiSession.SignIn(http, key);
        return new SeeOther(returnUrl);
    }

    private static IResult SignOut(HttpContext http)
    {
        UiSession.SignOut(http);
        return new SeeOther(UiSession.Root + "/signin");
    }

    /// <summary>One load: its record, every step attempt, its audit verdict when it is at rest, and the actions its status allows.</summary>
    private static async Task<IResult> LoadPageAsync(long id, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (await LoadEndpoints.FindAsync(state, caller, id, ct) is not { } load)
        {
            return NoSuchLoad(http, id);
        }

        var steps = await state.Runtime.Catalog.GetStepsAsync(load.Id, ct);
        LoadAudit? audit = null;
        string? auditProblem = null;
        if (!LoadStateMachine.IsWorking(load.Status))
        {
            // The audit of one load: its step records again and one count in the warehouse table it loaded.
            try
            {
                audit = await new Auditor(state.Runtime).AuditLoadAsync(load, ct);
            }
            catch (IntakeException e)
            {
                auditProblem = state.ClientText.For(e.Message);
            }
        }

        return Page<LoadPage>(http, new Dictionary<string, object?>
        {
            ["Load"] = load,
            ["Steps"] = steps,
            ["Audit"] = audit,
            ["AuditProblem"] = auditProblem,
            ["Text"] = state.ClientText,
        });
    }

    private static async Task<IResult> RedriveAsync(long id, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (await LoadEndpoints.FindAsync(state, caller, id, ct) is not { } load)
        {
            return NoSuchLoad(http, id);
        }

        var result = await state.Runtime.Actions.RedriveAsync(load, ct);
        if (result.Done)
        {
            ServerLog.LoadAction(state.Log, load.Id, load.Pipeline, "re-driven", caller.KeyId);
            state.Work.Pulse();
        }

        return AfterAction(http, load.Id, result, "re-driven: it is ready again and resumes at its first step without a success");
    }

    private static async Task<IResult> CancelAsync(long id, HttpContext http, ServerState state, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>()!;
        if (await LoadEndpoints.FindAsync(state, caller, id, ct) is not { } load)
        {
            return NoSuchLoad(http, id);
        }

        var result = await state.Runtime.Actions.CancelAsync(load, $"cancelled in the web UI by key {caller.KeyId}", ct);
        if (result.Done)
        {
            ServerLog.LoadAction(state.Log, load.Id, load.Pipeline, "cancelled", caller.KeyId);
            state.Work.Pulse();
        }

        return AfterAction(http, load.Id, result, result.Load.Status == LoadStatus.Held ? "cancelled: it is held until someone re-drives it" : "cancelled: its worker stops and the file takes the error path");
    }

    /// <summary>Post, redirect, get: the load's page shows what the action did (or why it did nothing).</summary>
    private static IResult AfterAction(HttpContext http, long id, Engine.Operations.ActionResult result, string done)
    {
        var name = id.ToString(CultureInfo.InvariantCulture);
        UiSession.SetFlash(http, result.Done ? new Flash(true, $"Load {name} {done}.") : new Flash(false, result.Reason!));
        return new SeeOther($"{UiSession.Root}/loads/{name}");
    }

    private static RazorComponentResult NoSuchLoad(HttpContext http, long id) =>
        StatusPageResult(http, StatusCodes.Status404NotFound, "No such load", $"There is no load {id.ToString(CultureInfo.InvariantCulture)} for this key.");

    internal static RazorComponentResult StatusPageResult(HttpContext http, int status, string title, string message, string? requestId = null)
    {
        var result = Page<StatusPage>(http, new Dictionary<string, object?> { ["Title"] = title, ["Message"] = message, ["Status"] = status, ["RequestId"] = requestId });
        result.StatusCode = status;
        return result;
    }

    /// <summary>
    /// A status no UI endpoint answered with a page of its own (the status code pages middleware): no such page (404),
    /// a path that exists only with another method, such as opening a form's address (405). In the UI's frame, like
    /// every other page, never the API's JSON.
    /// </summary>
    internal static Task StatusPageAsync(HttpContext http)
    {
        SecurityHeaders(http.Response);
        var status = http.Response.StatusCode;
        var path = http.Request.Path.Value is { Length: > 200 } p ? p[..200] + "…" : http.Request.Path.Value;
        var (title, message) = status switch
        {
            StatusCodes.Status404NotFound => ("Not found", $"There is no page at {path}."),
            StatusCodes.Status405MethodNotAllowed => ("Not a page", HttpMethods.IsGet(http.Request.Method)
                ? $"{path} is the address of a form's button, not a page: use the button on the page it belongs to."
                : $"{path} does not take a {http.Request.Method} request."),
            _ => ("Refused", $"This request to {path} was refused ({status.ToString(CultureInfo.InvariantCulture)})."),
        };
        return StatusPageResult(http, status, title, message).ExecuteAsync(http);
    }

    /// <summary>
    /// The page for an unhandled error under /ui (500) or an unavailable catalog or store (503): what happened and the
    /// request id its log line carries, never the error's own text (it may name server paths or .NET types).
    /// </summary>
    internal static Task ErrorPageAsync(HttpContext http, string requestId, bool unavailable)
    {
        SecurityHeaders(http.Response);
        var (title, message) = unavailable
            ? ("Unavailable", "A service the server depends on (the catalog or a store) did not answer. Try again in a moment; the server's log has the details under the request id below.")
            : ("Server error", "The server failed on this page. Its log has the error under the request id below: give it to whoever runs the server.");
        return StatusPageResult(http, http.Response.StatusCode, title, message, requestId).ExecuteAsync(http);
    }

    /// <summary>A page component with the request's <see cref="UiPage"/> (as <c>Ui</c>) and its own parameters.</summary>
    internal static RazorComponentResult Page<TComponent>(HttpContext http, Dictionary<string, object?> parameters) where TComponent : IComponent
    {
        parameters["Ui"] = UiPage.For(http);
        return new RazorComponentResult<TComponent>(parameters!);
    }

    /// <summary>303: the answer to a form is another page, fetched with GET (a reload does not post the form again).</summary>
    internal sealed class SeeOther(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status303SeeOther;
            httpContext.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }
}
