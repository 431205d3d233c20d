using Intake.Core.Ports;

namespace Intake.Server.Auth;

/// <summary>
/// Who is calling: the key's id (public part only), its customer and scope. Every endpoint asks
/// <see cref="CanSee"/> before showing or touching a resource, and answers 404 when it cannot, so a key
/// cannot even learn that another customer's pipeline or load exists.
/// </summary>
public sealed record Caller(string KeyId, string Customer, ApiKeyScope Scope)
{
    public bool IsAdmin => Scope == ApiKeyScope.Admin;

    public bool CanWrite => Scope is ApiKeyScope.Write or ApiKeyScope.Admin;

    public bool CanSee(string customer) => IsAdmin || string.Equals(customer, Customer, StringComparison.Ordinal);

    /// <summary>The customer filter for catalog queries: null (all) for admin keys.</summary>
    public string? CustomerFilter => IsAdmin ? null : Customer;
}
