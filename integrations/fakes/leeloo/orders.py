"""The fake Leeloo's order routes: create a manual order, list, read, resolve or reject.

A mixin of :class:`~integrations.fakes.leeloo.FakeLeeloo`; the records are
:class:`~integrations.fakes.leeloo.state.LeelooState`'s.
"""

from __future__ import annotations

import re

from ..core import route
from .common import ID, digits, not_found, now_text, ok, parse_js_date, refuse
from .state import index_get


class OrderRoutes:
    """``/api/v2/orders…``."""

    @route("POST", r"/api/v2/orders")
    def create_order(self, request):
        """A manual order for an offer, found person and payment system (JSON)."""
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            return refuse("The request body must be JSON")
        for name in ("paymentCreditsId", "offerId", "transactionDate"):
            if not body.get(name):
                return refuse(f"{name} is required")
        if body["paymentCreditsId"] not in self.payment_credits:
            return refuse(f"Payment system {body['paymentCreditsId']} not found")
        offer = self.offers.get(body["offerId"])
        if offer is None:
            return refuse(f"Offer {body['offerId']} not found")
        if parse_js_date(str(body["transactionDate"])) is None:
            return refuse("transactionDate must be a date")
        if str(body.get("isNotifyAccount", "false")).lower() not in ("true", "false"):
            return refuse("isNotifyAccount must be true or false")
        if body.get("managerId") and body["managerId"] not in self.users:
            return refuse(f"User {body['managerId']} not found")
        person = self._order_person(body)
        if person is None:
            return refuse("Person not found: send personId, or the email or phone of a person")
        stamp = now_text()
        order = {
            "id": self.new_id(),
            "person_id": person["id"],
            "title": offer["title"],
            "description": offer.get("description", ""),
            "price": offer["price"],
            "currency": offer["currency"],
            "status": "OPENED",
            "paymentMethod": "MANUAL",
            "createdAt": stamp,
            "updatedAt": stamp,
            "transactionDate": body["transactionDate"],
            "managerId": body.get("managerId", ""),
            "isNotifyAccount": str(body.get("isNotifyAccount", "false")).lower() == "true",
        }
        self.orders[order["id"]] = order
        person["orders"] = [*person["orders"], order["id"]]
        return ok(self._order_summary(order, with_person=False))

    def _order_person(self, body: dict) -> dict | None:
        if body.get("personId"):
            return self.people.get(body["personId"])
        for index, key in ((self._by_email, "email"), (self._by_phone, "phone")):
            value = str(body.get(key) or "")
            value = value.lower() if key == "email" else digits(value)
            for person_id in sorted(index_get(index, value)) if value else ():
                return self.people[person_id]
        return None

    @staticmethod
    def _order_summary(order: dict, with_person: bool = True) -> dict:
        keys = ["id", "person_id", "title", "price", "currency", "status", "createdAt"]
        keys.append("updatedAt")
        return {k: order[k] for k in keys if with_person or k != "person_id"}

    @route("GET", r"/api/v2/orders")
    def list_orders(self, request):
        """Orders, newest first, paged."""
        orders = sorted(self.orders.values(), key=lambda o: o["createdAt"], reverse=True)
        return self.page(request, orders, render=self._order_summary)

    @route("GET", r"/api/v2/orders/" + ID.format("order_id"))
    def get_order(self, request, order_id):
        """One order with its description and payment method."""
        order = self.orders.get(order_id)
        if order is None:
            return not_found("Order", order_id)
        keys = ("id", "createdAt", "updatedAt", "title", "description", "price", "currency")
        return ok({**{k: order[k] for k in keys}, **self._order_state(order)})

    @staticmethod
    def _order_state(order: dict) -> dict:
        return {"status": order["status"], "paymentMethod": order["paymentMethod"]}

    @route("POST", r"/api/v2/orders/" + ID.format("order_id"))
    def update_order(self, request, order_id):
        """Resolve or reject a manual order (form-data only)."""
        order = self.orders.get(order_id)
        if order is None:
            return not_found("Order", order_id)
        if request.form is None:
            return refuse("The request body must be form-data")
        form = {key: values[0] for key, values in request.form.items()}
        if order["paymentMethod"] != "MANUAL" or order.get("partialPayments"):
            return refuse("Only manual orders without partial payments can be updated")
        if form.get("status") not in ("RESOLVED", "REJECTED"):
            return refuse("status must be one of RESOLVED, REJECTED")
        if "paymentDate" in form and not re.fullmatch(
            r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", form["paymentDate"]
        ):
            return refuse("paymentDate must look like 2018-06-27 07:32")
        if "price" in form:
            try:
                order["price"] = float(form["price"])
            except ValueError:
                return refuse("price must be a number")
            order["price"] = int(order["price"]) if order["price"].is_integer() else order["price"]
        order["status"] = form["status"]
        order["currency"] = form.get("currency", order["currency"])
        order["paymentDate"] = form.get("paymentDate", "")
        order["userComments"] = form.get("userComments", "")
        order["updatedAt"] = now_text()
        return ok({"id": order_id})
