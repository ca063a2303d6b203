"""The fake Leeloo's account set-up routes: tags, tunnels and their stats, lead-generation
tools' traffic sources, platform users, connections and message template categories.

A mixin of :class:`~integrations.fakes.leeloo.FakeLeeloo`; the records are
:class:`~integrations.fakes.leeloo.state.LeelooState`'s.
"""

from __future__ import annotations

from ..core import route
from .common import API_USER_ID, COMPANY_ID, ID, not_found, now_text, ok, refuse


class CatalogRoutes:
    """Tags, tunnels, LGTs, users, connections and template categories."""

    # --- tags -----------------------------------------------------------------------------

    @route("GET", r"/api/v2/tags")
    def list_tags(self, request):
        """Every tag."""
        return ok([dict(tag) for tag in self.tags.values()])

    @route("PUT", r"/api/v2/people/" + ID.format("person_id") + "/(?P<action>add|remove)-tag")
    def change_tag(self, request, person_id, action):
        """Add or remove a tag on a person (form-data only)."""
        person = self.people.get(person_id)
        if person is None:
            return not_found("Person", person_id)
        tag_id = ((request.form or {}).get("tag_id") or [""])[0]
        if not tag_id:
            return refuse("tag_id is required (form-data)")
        tag = self.tags.get(tag_id)
        if tag is None:
            return refuse(f"Tag {tag_id} not found")
        tags = [name for name in person["tags"] if name != tag["name"]]
        person["tags"] = tags + [tag["name"]] if action == "add" else tags
        person["updated_at"] = now_text()
        return ok({})

    # --- tunnels --------------------------------------------------------------------------

    def _tunnel_item(self, tunnel: dict) -> dict:
        return {k: tunnel[k] for k in ("id", "name", "createdAt", "updatedAt")}

    @route("GET", r"/api/v2/tunnels")
    def list_tunnels(self, request):
        """Sales tunnels, paged."""
        return self.page(request, list(self.tunnels.values()), render=self._tunnel_item)

    @route("GET", r"/api/v2/tunnels/stats")
    def all_tunnel_stats(self, request):
        """Statistics of every tunnel."""
        return ok([dict(tunnel["stats"]) for tunnel in self.tunnels.values()])

    @route("GET", r"/api/v2/tunnels/(?!stats$)" + ID.format("tunnel_id"))
    def get_tunnel(self, request, tunnel_id):
        """One tunnel; ``include=leadgentools`` side-loads its LGTs as ``linked``."""
        tunnel = self.tunnels.get(tunnel_id)
        if tunnel is None:
            return not_found("Tunnel", tunnel_id)
        data = self._tunnel_item(tunnel)
        data["links"] = {
            "leadgentools": [{"type": "leadgentools", "id": i} for i in tunnel["leadgentools"]]
        }
        extra = {}
        if "leadgentools" in request.arg("include").split(","):
            extra["linked"] = {
                "leadgentools": [
                    {k: self.leadgentools[i][k] for k in ("id", "name", "type")}
                    for i in tunnel["leadgentools"]
                ]
            }
        return ok(data, **extra)

    @route("GET", r"/api/v2/tunnels/" + ID.format("tunnel_id") + "/stats")
    def tunnel_stats(self, request, tunnel_id):
        """Statistics of one tunnel, as a one-item list."""
        tunnel = self.tunnels.get(tunnel_id)
        if tunnel is None:
            return not_found("Tunnel", tunnel_id)
        return ok([dict(tunnel["stats"])])

    # --- users ----------------------------------------------------------------------------

    @route("GET", r"/api/v2/users")
    def list_users(self, request):
        """Platform users, paged."""
        return self.page(request, list(self.users.values()))

    @route("GET", r"/api/v2/users/" + ID.format("user_id"))
    def get_user(self, request, user_id):
        """One platform user."""
        user = self.users.get(user_id)
        if user is None:
            return not_found("User", user_id)
        return ok(dict(user))

    # --- lead-generation tools ------------------------------------------------------------

    @route(
        "POST", r"/api/v2/leadgentools/" + ID.format("leadgentool_id") + "/create-traffic-source"
    )
    def create_traffic_source(self, request, leadgentool_id):
        """A new traffic source in an LGT (JSON)."""
        tool = self.leadgentools.get(leadgentool_id)
        if tool is None:
            return not_found("Leadgentool", leadgentool_id)
        if not isinstance(request.json, dict) or not request.json.get("name"):
            return refuse("name is required")
        stamp = now_text()
        source = {
            "type": "normal",
            "fb_adset_id": None,
            "name": request.json["name"],
            "description": request.json.get("description", ""),
            "synchronized_with_fb": False,
            "synchronization_error": False,
            "disabled": False,
            "company_id": COMPANY_ID,
            "leadgentool_id": leadgentool_id,
            "tunnel_id": tool["tunnel_id"],
            "created_by": API_USER_ID,
            "hash": f"fk{len(self.traffic_sources) + 1:04d}",
            "resubscribe_button_id": self.new_id(),
            "createdAt": stamp,
            "updatedAt": stamp,
            "id": self.new_id(),
        }
        self.traffic_sources.append(source)
        return ok(dict(source))

    # --- connections ----------------------------------------------------------------------

    @route("GET", r"/api/v2/connections")
    def list_connections(self, request):
        """The account's connections (bots)."""
        return ok({"connections": [dict(c) for c in self.connections.values()]})

    # --- message templates ----------------------------------------------------------------

    @route("GET", r"/api/v2/categories/templates")
    def list_categories(self, request):
        """Message template categories."""
        categories = [{"id": c["id"], "name": c["name"]} for c in self.categories.values()]
        return ok({"categories": categories})

    @route("GET", r"/api/v2/categories/templates/" + ID.format("category_id"))
    def list_templates(self, request, category_id):
        """The templates of one category."""
        category = self.categories.get(category_id)
        if category is None:
            return not_found("Category", category_id)
        return ok({"templates": [dict(t) for t in category["templates"]]})

    def _template(self, template_id: str) -> dict | None:
        for category in self.categories.values():
            for template in category["templates"]:
                if template["id"] == template_id:
                    return template
