"""Lead bookkeeping: positions of leads named or numbered, and physical units of the samples."""
from ecg.errors import SignalError

UNIT_EXPONENT = {"V": 0, "mV": -3, "uV": -6, "µV": -6, "μV": -6, "nV": -9}
"""Power of ten of a volt in every voltage unit :func:`unit_factor` converts between (µ in both spellings)."""


def lead_positions(leads, names, n_leads=None):
    """Positions of ``leads`` (names in ``names``, or positions) among a record's leads.

    Parameters
    ----------
    leads : str, int or sequence of str and int
        Lead names (``"II"``, compared exactly) or positions (negative counts from the end).
    names : sequence of str
        The record's lead names (``meta["sig_name"]``).
    n_leads : int, optional
        Number of leads, when it cannot be taken from ``names``.

    Returns
    -------
    list of int
        One position from 0 per lead asked for, in the order asked.

    Raises
    ------
    SignalError
        If a name is not among ``names`` or a position is out of range.

    Examples
    --------
    >>> lead_positions(["V1", 0, -1], ["I", "II", "V1", "V2"])
    [2, 0, 3]
    """
    names = [str(name) for name in names]
    n_leads = len(names) if n_leads is None else int(n_leads)
    leads = [leads] if isinstance(leads, (str, int)) else list(leads)
    out = []
    for lead in leads:
        if isinstance(lead, str):
            if lead not in names:
                raise SignalError(f"Expected a lead among {names}. Received: {lead!r}.")
            out.append(names.index(lead))
        elif isinstance(lead, int) and not isinstance(lead, bool) and -n_leads <= lead < n_leads:
            out.append(lead % n_leads)
        else:
            raise SignalError(f"Expected a lead name or a position in [{-n_leads}, {n_leads}). Received: {lead!r}.")
    return out


def unit_factor(units, new_units):
    """The factor that turns samples in ``units`` into ``new_units`` (both voltage units).

    Examples
    --------
    >>> unit_factor("mV", "uV")
    1000.0
    """
    for unit in (units, new_units):
        if unit not in UNIT_EXPONENT:
            raise SignalError(f"Expected a voltage unit in {tuple(UNIT_EXPONENT)}. Received: {unit!r}.")
    return 10.0 ** (UNIT_EXPONENT[units] - UNIT_EXPONENT[new_units])
