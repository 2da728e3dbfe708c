"""Reference data that exists from the start: the teams of PROCESSES.md §1.1 and sub-groups."""

from __future__ import annotations

#: (team id, Finnish name). Lanes bind to these by id or name (CONTRACT.md "Roles").
TEAMS: tuple[tuple[str, str], ...] = (
    ("central_preparation", "Maakunnallinen valmistelutiimi"),
    ("start_services", "Työnhaun käynnistymispalvelut"),
    ("lobby_phone", "Aula- ja puhelinpalvelu"),
    ("ps_jns", "Henkilöasiakkaan palvelut, Joensuu"),
    ("ps_jse", "Henkilöasiakkaan palvelut, Joensuun seutu"),
    ("ps_kka", "Henkilöasiakkaan palvelut, Keski-Karjala"),
    ("ps_pka", "Henkilöasiakkaan palvelut, Pielisen Karjala"),
    ("jokerit", "Jokerit"),
    ("career_guidance", "Ammatinvalinta- ja uraohjaus"),
    ("tym", "TYM-asiakasvastaavat"),
    ("integration_services", "Kotouttamispalvelut"),
    ("employer_services", "Työnantajapalvelut"),
    ("employer_services_lead", "Työnantajapalvelujen tiimivastaava"),
    ("ecosystem_experts", "Työllisyyden ekosysteemin asiantuntijat"),
    ("management", "Johtotiimi"),
    ("development_company", "Kehittämisyhtiöt"),
    ("tym_partners", "TYM-yhteistyökumppanit"),
)

#: Teams whose lead (tiimivastaava / palveluvastaava) is not a team of its own in §1.1.
_LEAD_TEAMS = tuple(
    team for team in TEAMS
    if team[0] not in ("lobby_phone", "employer_services_lead", "management")
)

#: The sub-groups of §1.1: `<team>.lead` (receives escalations) and the specialist groups.
SUB_GROUPS: tuple[tuple[str, str], ...] = (
    *((f"{team_id}.lead", f"{name}: tiimivastaava") for team_id, name in _LEAD_TEAMS),
    ("employer_services.startup_grant", "Työnantajapalvelut: starttiraha-asiantuntijat"),
    ("employer_services.change_security", "Työnantajapalvelut: muutosturva-asiantuntija"),
)
