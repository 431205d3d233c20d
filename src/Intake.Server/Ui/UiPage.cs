using Intake.Server.Auth;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Intake.Server.Ui;

/// <summary>
/// What every UI page needs besides its own data: who is signed in (null on the sign-in page), the anti-forgery
/// field its forms carry, the message a form left for it, and where it is (for the navigation).
/// </summary>
/// <param name="Caller">The key's caller, the same object the API's endpoints get.</param>
/// <param name="TokenField">The anti-forgery form field's name.</param>
/// <param name="Token">Its value, tied to this browser's anti-forgery cookie.</param>
/// <param name="Path">The request's path, to mark the current section in the navigation.</param>
/// <param name="Flash">The result of the form that redirected here, if any.</param>
public sealed record UiPage(Caller? Caller, string TokenField, string Token, string Path, Flash? Flash)
{
    /// <summary>The page context of a request: issues the anti-forgery token (and its cookie) and takes the flash message.</summary>
    internal static UiPage For(HttpContext http)
    {
        var tokens = http.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(http);
        var caller = http.Features.Get<Caller>();
        var config = http.RequestServices.GetRequiredService<Hosting.ServerState>().Config;
        return new UiPage(caller, tokens.FormFieldName, tokens.RequestToken ?? "", http.Request.Path.Value ?? UiSession.Root, UiSession.TakeFlash(http))
        {
            HasStreams = caller is not null && config.Streams.Any(s => config.FindPipeline(s.Pipeline) is { } p && caller.CanSee(p.Customer)),
            HasMail = caller is not null && config.Pipelines.Any(p => caller.CanSee(p.Customer) && UiOverviewEndpoints.IsMail(p)),
        };
    }

    /// <summary>The key sees a pipeline fed by a stream: the navigation shows Streams.</summary>
    public bool HasStreams { get; init; }

    /// <summary>The key sees a mail pipeline: the navigation shows Mail.</summary>
    public bool HasMail { get; init; }

    /// <summary>Who the key is, for the header: its customer (or every customer, for an admin key) and scope.</summary>
    public string Who => Caller is null ? "" : Caller.IsAdmin ? "all customers" : Caller.Customer;
}
