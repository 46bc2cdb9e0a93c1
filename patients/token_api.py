"""Your own API tokens: list them and revoke one (SPEC §10). Someone else's token is 404."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from . import api_tokens
from .serializers import ApiTokenSerializer


class ApiTokenListView(generics.GenericAPIView):
    serializer_class = ApiTokenSerializer
    pagination_class = None  # a handful per person

    @extend_schema(
        summary="Your API tokens that still work (never their keys)", responses={200: ApiTokenSerializer(many=True)}
    )
    def get(self, request):
        tokens = api_tokens.live_tokens(request.user)
        return Response(self.get_serializer(tokens, many=True).data)


class ApiTokenDetailView(APIView):
    @extend_schema(
        summary="Revoke one of your API tokens",
        request=None,
        responses={204: None, 404: OpenApiResponse(description="You have no token with this id.")},
    )
    def delete(self, request, token_id: int):
        if not api_tokens.revoke(request.user, token_id, path=request.path):
            raise NotFound("You have no token with this id.")
        return Response(status=status.HTTP_204_NO_CONTENT)
