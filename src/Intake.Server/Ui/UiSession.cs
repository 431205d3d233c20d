using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Intake.Server.Ui;

/// <summary>
/// The web UI's sign-in session: one cookie holding the API key itself, encrypted and signed with ASP.NET Core data
/// protection and valid for <see cref="Lifetime"/>. The key rather than a ticket naming it, so that every page
/// request is checked by the API's own code (<see cref="Auth.ApiKeyMiddleware.AuthenticateAsync"/>): a revoked key
/// stops working in the UI exactly when it stops working in the API, and the UI has no second idea of who may do what.
/// The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure on HTTPS, and
/// scoped to <c>/ui</c>. Its protection keys live in the process's memory: restarting <c>intake serve</c> signs everyone out.
/// </summary>
internal static class UiSession
{
    public const string Root = "/ui";
    public const string CookieName = "intake_ui";
    private const string FlashCookie = "intake_ui_flash";

    /// <summary>A working day: after that the operator types the key again.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    /// <summary>The UI's pages and forms (not its assets, which are public and need no key).</summary>
    public static bool Applies(PathString path) =>
        path.StartsWithSegments(Root, StringComparison.OrdinalIgnoreCase)
        && !path.StartsWithSegments(Root + "/assets", StringComparison.OrdinalIgnoreCase);

    /// <summary>The key of the request's session; null without a cookie or with one that is expired, forged or from a previous process.</summary>
    public static string? ReadKey(HttpContext http)
    {
        if (!http.Request.Cookies.TryGetValue(CookieName, out var value) || string.IsNullOrEmpty(value))
        {
            return null;
        }

        try
        {
            return Protector(http, "session").Unprotect(value);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    public static void SignIn(HttpContext http, string key) =>
        http.Response.Cookies.Append(CookieName, Protector(http, "session").Protect(key, Lifetime), Options(http, Lifetime));

    public static void SignOut(HttpContext http) => http.Response.Cookies.Delete(CookieName, Options(http, null));

    /// <summary>A message for the next page (the result of a form, shown after its redirect): kept a minute, read once.</summary>
    public static void SetFlash(HttpContext http, Flash flash) =>
        http.Response.Cookies.Append(FlashCookie, Protector(http, "flash").Protect((flash.Ok ? "1" : "0") + flash.Text, TimeSpan.FromMinutes(1)), Options(http, TimeSpan.FromMinutes(1)));

    /// <summary>The message a form left for this page, removed as it is read.</summary>
    public static Flash? TakeFlash(HttpContext http)
    {
        if (!http.Request.Cookies.TryGetValue(FlashCookie, out var value) || string.IsNullOrEmpty(value))
        {
            return null;
        }

        http.Response.Cookies.Delete(FlashCookie, Options(http, null));
        try
        {
            var text = Protector(http, "flash").Unprotect(value);
            return text.Length > 1 ? new Flash(text[0] == '1', text[1..]) : null;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    private static ITimeLimitedDataProtector Protector(HttpContext http, string purpose) =>
        http.RequestServices.GetRequiredService<IDataProtectionProvider>().CreateProtector("Intake.Ui", purpose, "v1").ToTimeLimitedDataProtector();

    private static CookieOptions Options(HttpContext http, TimeSpan? maxAge) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = http.Request.IsHttps,
        Path = Root,
        MaxAge = maxAge,
        IsEssential = true,
    };
}

/// <summary>The outcome of a form, shown once on the page it redirected to.</summary>
public sealed record Flash(bool Ok, string Text);
