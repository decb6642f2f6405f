namespace Snapstone.Domain;

/// <summary>What kind of refusal a command met; the gateway maps each kind to one HTTP status.</summary>
public enum ProblemKind
{
    /// <summary>The request itself is malformed or out of bounds (400).</summary>
    Invalid,
    /// <summary>A named thing does not exist (404).</summary>
    NotFound,
    /// <summary>The request conflicts with current state (409).</summary>
    Conflict,
    /// <summary>Well-formed but refused on its content, e.g. a package failing validation (422).</summary>
    Unprocessable,
    /// <summary>The caller may not do this, whatever their scopes (403).</summary>
    Forbidden,
    /// <summary>The request body is larger than the configured limit (413).</summary>
    TooLarge,
    /// <summary>The caller holds as many of something (open streams) as it may at once (429).</summary>
    TooMany,
    /// <summary>Something Snapstone depends on to answer (the metrics store) could not be reached; nothing was changed (503).</summary>
    Unavailable,
}
