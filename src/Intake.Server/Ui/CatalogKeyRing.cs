using System.Xml.Linq;
using Intake.Server.Hosting;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Intake.Server.Ui;

/// <summary>
/// The data protection key ring kept in the catalog (<see cref="Core.Ports.IApiKeyStore.ListSessionKeysAsync"/>):
/// the keys that sign and encrypt the UI's session cookie and anti-forgery tokens. The catalog is what every
/// <c>intake serve</c> on it already shares, so a restart keeps everyone signed in and a cookie one server issued is
/// accepted by the others behind a load balancer. The framework reads the ring at start, caches it (a day at most) and
/// reads it again when a cookie names a key it does not hold: the key another server has just made.
/// </summary>
/// <remarks>
/// The interface is synchronous; the framework calls it rarely (start, a new key every 90 days, a cache refresh), never
/// per request, so blocking on the catalog here costs nothing a page would notice.
/// </remarks>
internal sealed class CatalogKeyRing(ServerState state) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements() =>
        state.Keys.ListSessionKeysAsync(CancellationToken.None).GetAwaiter().GetResult().Select(XElement.Parse).ToList();

    public void StoreElement(XElement element, string friendlyName)
    {
        ArgumentNullException.ThrowIfNull(element);
        state.Keys.AddSessionKeyAsync(friendlyName, element.ToString(SaveOptions.DisableFormatting), CancellationToken.None).GetAwaiter().GetResult();
    }
}
