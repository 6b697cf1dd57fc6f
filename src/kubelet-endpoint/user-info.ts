/** Who made a request, as Kubernetes' user.Info has it. */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
}

export const ANONYMOUS_USER = "system:anonymous";
export const UNAUTHENTICATED_GROUP = "system:unauthenticated";
export const AUTHENTICATED_GROUP = "system:authenticated";
